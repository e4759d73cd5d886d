"""`evaluate` module: similarity of two representations of the same samples (linear CKA and PWCCA).

A thin wrapper over `barlow_speech.evaluation.similarity`; see README.md.
"""

import datasets
import evaluate
import numpy as np

from barlow_speech.evaluation import similarity

_CITATION = """\
@inproceedings{kornblith2019similarity,
  title={Similarity of Neural Network Representations Revisited},
  author={Kornblith, Simon and Norouzi, Mohammad and Lee, Honglak and Hinton, Geoffrey},
  booktitle={ICML},
  year={2019}
}
@inproceedings{morcos2018insights,
  title={Insights on Representational Similarity in Neural Networks with Canonical Correlation},
  author={Morcos, Ari S. and Raghu, Maithra and Bengio, Samy},
  booktitle={NeurIPS},
  year={2018}
}
"""

_DESCRIPTION = """\
Similarity in [0, 1] of two representations whose rows describe the same samples (e.g. two layers of one encoder,
or one layer of two encoders, over one set of utterances): linear CKA (Kornblith et al. 2019) and
projection-weighted CCA (Morcos et al. 2018). Both centre every column; PWCCA is invariant to any invertible
linear map, CKA only to orthogonal maps and isotropic scaling.
"""

_KWARGS_DESCRIPTION = """
Args:
    representations_a (`list` of `list` of `float`): one embedding per sample, all of the same width.
    representations_b (`list` of `list` of `float`): the other representation of the same samples, in the same
        order (its width may differ).
    measures (`list` of `str`, default ["linear_cka", "pwcca"]): which similarities to compute. PWCCA needs more
        samples than the two widths together.
Returns:
    {"linear_cka": float, "pwcca": float, "num_samples": int} (only the requested measures).
Examples:
    >>> metric = evaluate.load("barlow_speech/metrics/representation_similarity")
    >>> metric.compute(representations_a=layer_3, representations_b=layer_4)["linear_cka"]
"""

_FUNCTIONS = {"linear_cka": similarity.linear_cka, "pwcca": similarity.pwcca}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RepresentationSimilarity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "representations_a": datasets.Sequence(datasets.Value("float32")),
                    "representations_b": datasets.Sequence(datasets.Value("float32")),
                }
            ),
        )

    def _compute(self, representations_a, representations_b, measures=similarity.SIMILARITY_MEASURES):
        unknown = sorted(set(measures) - set(_FUNCTIONS))
        if unknown:
            raise ValueError(f"measures={list(measures)} has unknown {unknown}; choose from {list(_FUNCTIONS)}.")
        a, b = np.asarray(representations_a, dtype=np.float64), np.asarray(representations_b, dtype=np.float64)
        return {**{name: _FUNCTIONS[name](a, b) for name in measures}, "num_samples": len(a)}
