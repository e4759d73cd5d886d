"""`evaluate` module: linear evaluation of frozen embeddings at label fractions (Brima et al. 2024, Table 2).

A thin wrapper over `barlow_speech.evaluation.probes.linear_probe`; see README.md for inputs and outputs.
"""

import datasets
import evaluate
import numpy as np

from barlow_speech.evaluation.probes import linear_probe

_CITATION = """\
@article{brima2024understanding,
  title={Understanding Self-Supervised Learning of Speech Representation via Invariance and Redundancy Reduction},
  author={Brima, Yusuf and Krumnack, Ulf and Pika, Simone and Heidemann, Gunther},
  journal={Information}, volume={15}, number={2}, pages={114}, year={2024}
}
"""

_DESCRIPTION = """\
Linear probe on frozen utterance embeddings: a multinomial logistic regression trained on stratified
label fractions of the train split for many seeds at once (one batched L-BFGS on the device), weight decay
chosen on the validation split, top-1 accuracy on the test split (mean, std and every run).
"""

_KWARGS_DESCRIPTION = """
Args:
    embeddings (`list` of `list` of `float`): one frozen embedding per clip, all of the same width.
    labels (`list` of `int`): the task label of each clip.
    splits (`list` of `str`): "train", "validation" or "test" for each clip.
    fractions (`list` of `float`, default [0.05, 0.1, 0.5, 1.0]): label fractions of the train split.
    seeds (`list` of `int`, default 0..49): one stratified subset per seed and fraction.
    weight_decays (`list` of `float`): the L2 grid chosen from on validation.
    steps (`int`, default 300): the most L-BFGS iterations per head (they stop at scikit-learn's tolerance).
    device (`str`, optional): where to train the heads (default CUDA when available).
Returns:
    The probe result: "fractions" maps "0.05", ... to {"mean", "std", "runs", "seeds", ...} (accuracy in
    [0, 1]); "index_lists" holds every subset's indices into the train split.
Examples:
    >>> probe = evaluate.load("barlow_speech/metrics/linear_probe")
    >>> result = probe.compute(embeddings=x, labels=y, splits=split, fractions=[0.1, 1.0], seeds=[0, 1])
    >>> result["fractions"]["0.1"]["mean"]
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LinearProbe(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "embeddings": datasets.Sequence(datasets.Value("float32")),
                    "labels": datasets.Value("int64"),
                    "splits": datasets.Value("string"),
                }
            ),
        )

    def _compute(self, embeddings, labels, splits, **probe_kwargs):
        embeddings, labels, splits = np.asarray(embeddings, dtype=np.float32), np.asarray(labels), np.asarray(splits)
        unknown = sorted(set(splits) - {"train", "validation", "test"})
        if unknown:
            raise ValueError(f"splits must be 'train', 'validation' or 'test', got {unknown}.")
        parts = [(embeddings[splits == name], labels[splits == name]) for name in ("train", "validation", "test")]
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = parts
        return linear_probe(x_train, y_train, x_val, y_val, x_test, y_test, **probe_kwargs)
