"""The encoder for inference outside PyTorch: an ONNX file (onnxruntime, ...) or a `torch.export` program.

The exported graph is `BarlowSpeechModel(...).pooler_output` of the feature extractor's batch output:
`input_values` `(clips, segments, freq, frames)` float32 and `attention_mask` `(clips, segments)` int64 (what
`extractor(..., return_tensors="np")` returns), clips and segments dynamic. The model's forward runs only the real
segments, picked with `nonzero()`, which `torch.export` cannot trace (a data-dependent shape); the exported graph
runs every segment and applies the mask arithmetically, as a masked mean over segments: the same numbers, at the cost
of the padded segments' compute. A row with no real segment gives NaN, where the model raises.

    barlow-speech export --model runs/bt --format onnx --output bt.onnx

    >>> import barlow_speech, onnxruntime
    >>> from transformers import AutoFeatureExtractor
    >>> from barlow_speech.export import export_encoder
    >>> folder = barlow_speech.pretrained("bt-small")
    >>> session = onnxruntime.InferenceSession(str(export_encoder(folder, "bt-small.onnx")))
    >>> features = AutoFeatureExtractor.from_pretrained(folder)(clips, sampling_rate=16000, return_tensors="np")
    >>> (embeddings,) = session.run(None, dict(features))  # (clips, hidden_size)

ONNX needs the `export` extra (`pip install barlow-speech[export]`: onnx, onnxscript, onnxruntime). A `torch.export`
file loads with `torch.export.load(path).module()`; it holds the graph as JSON and the weights as raw tensor bytes.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .arguments import CommandParser
from .feature_extraction_barlow import BarlowSpeechFeatureExtractor
from .modeling_barlow import BarlowSpeechModel, BarlowSpeechPreTrainedModel
from .repo_folder import load_pretrained

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "torch")
INPUT_NAMES = ("input_values", "attention_mask")
OUTPUT_NAME = "pooler_output"
# the dynamo ONNX exporter's own default opset (torch 2.13); opset 18 is the lowest it writes
DEFAULT_OPSET = 18
# the shape traced: more than one clip and segment, so neither dimension is specialised to 1
EXAMPLE_CLIPS, EXAMPLE_SEGMENTS = 2, 3


class ExportableEncoder(nn.Module):
    """`pooler_output` of a `BarlowSpeechModel` with the mask applied arithmetically, for `torch.export`.

    `forward(input_values (clips, segments, freq, frames), attention_mask (clips, segments))` -> `(clips, hidden)`:
    the backbone runs on every segment (`BarlowSpeechModel.segment_embeddings`) and each clip's embedding is the
    mean over the segments its mask marks, so no shape depends on the mask's values.
    """

    def __init__(self, model: BarlowSpeechModel):
        super().__init__()
        self.model = model

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        clips, segments = input_values.shape[:2]
        embeddings = self.model.segment_embeddings(input_values.flatten(0, 1).unsqueeze(1))
        real = (attention_mask > 0).unsqueeze(-1)  # (clips, segments, 1)
        total = torch.where(real, embeddings.unflatten(0, (clips, segments)), 0.0).sum(dim=1)
        return total / real.sum(dim=1).to(total.dtype)


def _encoder_and_extractor(
    model: str | Path | BarlowSpeechPreTrainedModel, feature_extractor: BarlowSpeechFeatureExtractor | None
) -> tuple[BarlowSpeechModel, BarlowSpeechFeatureExtractor]:
    """The encoder (of any head) and the front end whose output it reads (from the folder, if given)."""
    if isinstance(model, (str, Path)):
        folder = model
        model = load_pretrained(BarlowSpeechModel, folder)
        if feature_extractor is None:
            feature_extractor = load_pretrained(BarlowSpeechFeatureExtractor, folder)
    elif not isinstance(model, BarlowSpeechPreTrainedModel):
        raise ValueError(
            f"model is a {type(model).__name__}; pass a save_pretrained folder or a barlow_speech model "
            "(BarlowSpeechModel or one of its heads)."
        )
    if feature_extractor is None:
        raise ValueError(
            "a model object was passed without feature_extractor=: the exported graph's frequency rows and frames are "
            "those of the model's front end; pass the BarlowSpeechFeatureExtractor it was trained with, or the "
            "model's folder."
        )
    return model.base_model, feature_extractor


def _example_inputs(feature_extractor: BarlowSpeechFeatureExtractor) -> tuple[torch.Tensor, torch.Tensor]:
    """A traced batch of `EXAMPLE_CLIPS` x `EXAMPLE_SEGMENTS` segments, the last clip one segment short."""
    generator = torch.Generator().manual_seed(0)
    shape = (EXAMPLE_CLIPS, EXAMPLE_SEGMENTS, feature_extractor.num_bins, feature_extractor.num_frames)
    attention_mask = torch.ones(EXAMPLE_CLIPS, EXAMPLE_SEGMENTS, dtype=torch.long)
    attention_mask[-1, -1] = 0
    return torch.randn(shape, generator=generator), attention_mask


def _dynamic_shapes() -> dict[str, dict[int, torch.export.Dim]]:
    clips, segments = torch.export.Dim("clips", min=1), torch.export.Dim("segments", min=1)
    return {name: {0: clips, 1: segments} for name in INPUT_NAMES}


def export_program(
    model: str | Path | BarlowSpeechPreTrainedModel, feature_extractor: BarlowSpeechFeatureExtractor | None = None
) -> torch.export.ExportedProgram:
    """`torch.export` of `ExportableEncoder`: inputs `input_values` and `attention_mask`, clips and segments dynamic.

    Args:
        model: a save_pretrained folder (of the encoder or any head) or a barlow_speech model object.
        feature_extractor: the model's front end (default: the folder's); fixes the frequency rows and frames.
    """
    encoder, feature_extractor = _encoder_and_extractor(model, feature_extractor)
    training = encoder.training
    try:
        with torch.no_grad():
            return torch.export.export(
                ExportableEncoder(encoder.eval()), _example_inputs(feature_extractor), dynamic_shapes=_dynamic_shapes()
            )
    finally:
        encoder.train(training)  # a caller's model object keeps its mode


def export_torch(
    model: str | Path | BarlowSpeechPreTrainedModel,
    path: str | Path,
    feature_extractor: BarlowSpeechFeatureExtractor | None = None,
) -> Path:
    """Save `export_program(model, feature_extractor)` with `torch.export.save` (a `.pt2` archive) to `path`.

    Load it with `torch.export.load(path).module()(input_values, attention_mask)`.
    """
    path = _output_path(path)
    program = export_program(model, feature_extractor)
    # torch.export.save would store the traced example with torch.save (a pickle, which torch.export.load may unpickle
    # in full): without it the archive holds only JSON and raw tensor bytes
    program.example_inputs = None
    torch.export.save(program, path)
    return path


def export_onnx(
    model: str | Path | BarlowSpeechPreTrainedModel,
    path: str | Path,
    feature_extractor: BarlowSpeechFeatureExtractor | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write the encoder as one ONNX file at `path` (torch's dynamo exporter, opset `opset`), inputs
    `input_values` float32 `(clips, segments, freq, frames)` and `attention_mask` int64 `(clips, segments)`, output
    `pooler_output` `(clips, hidden_size)`."""
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter's dependency, checked for the message below)
    except ImportError as error:
        raise ImportError(
            "ONNX export needs onnx and onnxscript: pip install 'barlow-speech[export]' (or pip install onnx "
            "onnxscript onnxruntime)."
        ) from error
    path = _output_path(path)
    program = export_program(model, feature_extractor)
    onnx_program = torch.onnx.export(
        program,
        input_names=list(INPUT_NAMES),
        output_names=[OUTPUT_NAME],
        opset_version=opset,
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    onnx_program.save(str(path))
    return path


def export_encoder(
    model: str | Path | BarlowSpeechPreTrainedModel,
    output: str | Path,
    format: str = "onnx",
    feature_extractor: BarlowSpeechFeatureExtractor | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export the encoder of `model` (a folder or a model object) to `output` as `format`: `"onnx"`
    (`export_onnx`) or `"torch"` (`export_torch`, a `torch.export` archive). Returns the written path."""
    if format not in FORMATS:
        raise ValueError(f"format={format!r} is not one of {list(FORMATS)}.")
    if format == "onnx":
        return export_onnx(model, output, feature_extractor, opset=opset)
    return export_torch(model, output, feature_extractor)


def _output_path(path: str | Path) -> Path:
    """`path` as a Path whose folder exists; an existing file is refused rather than overwritten."""
    path = Path(path).expanduser()
    if path.exists():
        raise ValueError(f"output {str(path)!r} exists; remove it or choose another path.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no such folder: {str(path.parent)!r} (the folder of output {str(path)!r}).")
    return path


@dataclass
class ExportArguments:
    """`barlow-speech export`'s options."""

    model: str = field(metadata={"help": "a save_pretrained folder (the encoder or any head, with its extractor)"})
    output: str = field(metadata={"help": "the file to write (e.g. bt.onnx or bt.pt2); must not exist"})
    format: str = field(
        default="onnx", metadata={"choices": FORMATS, "help": "onnx (onnxruntime) or torch (torch.export.load)"}
    )
    opset: int = field(default=DEFAULT_OPSET, metadata={"help": "the ONNX opset (format onnx)"})


def parse_args(argv: list[str] | None = None) -> ExportArguments:
    """`barlow-speech export` arguments from `argv` (the command line by default), parsed like every command's."""
    parser = CommandParser([ExportArguments], "export", __doc__)
    (args,) = parser.parse(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    """`barlow-speech export`; `barlow_speech.cli` reports a ValueError / FileNotFoundError in one line."""
    args = parse_args(argv)
    path = export_encoder(args.model, args.output, args.format, opset=args.opset)
    print(path)
    return 0


__all__ = [
    "FORMATS",
    "ExportArguments",
    "ExportableEncoder",
    "export_encoder",
    "export_onnx",
    "export_program",
    "export_torch",
    "main",
    "parse_args",
]
