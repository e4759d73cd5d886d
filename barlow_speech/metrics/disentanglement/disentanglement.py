"""`evaluate` module: disentanglement metrics of Brima et al. 2024, Table 3 (MIG, SAP, DCIMIG, JEMMIG, Modularity).

A thin wrapper over `barlow_speech.evaluation.disentanglement.disentanglement_runs`; see README.md.
"""

import datasets
import evaluate
import numpy as np

from barlow_speech.evaluation.disentanglement import disentanglement_runs

_CITATION = """\
@inproceedings{chen2018isolating,
  title={Isolating Sources of Disentanglement in Variational Autoencoders},
  author={Chen, Ricky T. Q. and Li, Xuechen and Grosse, Roger and Duvenaud, David},
  booktitle={NeurIPS},
  year={2018}
}
@inproceedings{kumar2018variational,
  title={Variational Inference of Disentangled Latent Concepts from Unlabeled Observations},
  author={Kumar, Abhishek and Sattigeri, Prasanna and Balakrishnan, Avinash},
  booktitle={ICLR},
  year={2018}
}
@inproceedings{ridgeway2018learning,
  title={Learning Deep Disentangled Embeddings With the F-Statistic Loss},
  author={Ridgeway, Karl and Mozer, Michael C.},
  booktitle={NeurIPS},
  year={2018}
}
@article{sepliarskaia2019not,
  title={How to Not Measure Disentanglement},
  author={Sepliarskaia, Anna and Kiseleva, Julia and de Rijke, Maarten},
  journal={arXiv:1910.05587},
  year={2019}
}
@inproceedings{do2020theory,
  title={Theory and Evaluation Metrics for Learning Disentangled Representations},
  author={Do, Kien and Tran, Truyen},
  booktitle={ICLR},
  year={2020}
}
"""

_DESCRIPTION = """\
Disentanglement of real-valued latents with respect to discrete ground-truth factors, averaged over random
subsamples: MIG, SAP, Modularity (and explicitness) as in google-research/disentanglement_lib (20 bins,
nats) and DCIMIG, JEMMIG as in their reference implementation (min-max scaling, 10 bins, bits).
"""

_KWARGS_DESCRIPTION = """
Args:
    latents (`list` of `list` of `float`): one embedding per sample, all of the same width (>= 2).
    factors (`list` of `list` of `int`): the discrete factors of each sample (e.g. accent, speaker, gender).
    n_runs (`int`, default 50): number of random subsamples.
    sample_size (`int`, optional): samples per run (default half of the samples).
    seed (`int`, default 0): seeds the subsamples and the SAP train/test split.
    metrics (`list` of `str`, default the Table 3 metrics): any of mig, sap, dcimig, jemmig, modularity, explicitness.
    mig_bins (`int`, default 20), reference_bins (`int`, default 10): histogram bins.
    factor_names (`list` of `str`, optional), model (`str`, optional): recorded in the result.
Returns:
    {"schema", "model", "factors", "n_runs", "sample_size", "seed", "config",
     "metrics": {name: {"mean", "std", "runs"}}}.
Examples:
    >>> metric = evaluate.load("barlow_speech/metrics/disentanglement")
    >>> metric.compute(latents=z, factors=f, n_runs=5)["metrics"]["mig"]["mean"]
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Disentanglement(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "latents": datasets.Sequence(datasets.Value("float32")),
                    "factors": datasets.Sequence(datasets.Value("int64")),
                }
            ),
        )

    def _compute(self, latents, factors, **run_kwargs):
        return disentanglement_runs(np.asarray(latents, dtype=np.float64), np.asarray(factors), **run_kwargs)
