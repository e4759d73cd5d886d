"""The result files of barlow-speech: their schemas, which evaluation writes and reports and model cards read.

Probe result (`barlow_speech.evaluation.probes.linear_probe`; also the Supervised baseline of
`barlow_speech.evaluation.baselines.supervised_baseline`), accuracies in [0, 1]::

    {"schema": "barlow_speech.probe/v1", "metric": "top1_accuracy",
     "model": "BT-LS-100", "task": "SR", "num_classes": 5, "num_train": 6000, ...,
     "dataset": "synthetic", "dataset_config": "{...}", "split": "test",  # `metadata=`; the model card needs "dataset"
     "label_column": "speaker_id", "upstream": "runs/bt-ls100",           # added by `barlow-speech probe`
     "probe": {"optimizer": "lbfgs_batched", "steps": 300, "tol": 1e-4, "iterations": 41, "weight_decays": [...]},
     "fractions": {"0.05": {"fraction": 0.05, "mean": 0.39, "std": 0.02, "runs": [...], "seeds": [...],
                            "weight_decays": [...], "validation_accuracy": [...]}, ...},
     "index_lists": {"num_examples": 6000, "subsets": [{"fraction": 0.05, "seed": 0, "indices": [...]}, ...]}}

"probe" names the solver (`steps`: its iteration cap; `iterations`: the most any batch ran); baselines record
their own optimizer there. Per fraction, each run's hyper-parameters are listed: "weight_decays" (the one chosen on
validation) for probes; "learning_rates" and "weight_decays" for the Supervised baseline, which trains with them.

Disentanglement result (`barlow_speech.evaluation.disentanglement.disentanglement_runs`)::

    {"schema": "barlow_speech.disentanglement/v1", "model": "BT-128", "factors": ["accent", "identity", "gender"],
     "dataset": "synthetic", "dataset_config": "{...}", "split": "test",  # `metadata=`; the model card needs "dataset"
     "factor_columns": ["accent", "speaker_id", "gender"], "upstream": "runs/bt-128",  # by `barlow-speech disentangle`
     "n_runs": 50, "sample_size": 3750, "seed": 0, "config": {"mig_bins": 20, ...},
     "metrics": {"mig": {"mean": 0.02, "std": 0.002, "runs": [...]}, "sap": {...}, "dcimig": {...},
                 "jemmig": {...}, "modularity": {...}}}

Layer-wise analysis (`barlow-speech analyze`, `barlow_speech.evaluation.analysis`, which documents its fields): schema
"barlow_speech.layer_analysis/v1".
"""

PROBE_SCHEMA = "barlow_speech.probe/v1"
DISENTANGLEMENT_SCHEMA = "barlow_speech.disentanglement/v1"
ANALYSIS_SCHEMA = "barlow_speech.layer_analysis/v1"

__all__ = ["ANALYSIS_SCHEMA", "DISENTANGLEMENT_SCHEMA", "PROBE_SCHEMA"]
