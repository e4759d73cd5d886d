"""The named Barlow Twins speech models of Brima et al. 2024 (paper Table 3) and what their Hub cards say.

`bt-ls100`, `bt-ls360` and `bt-vc1` differ in the upstream (pretraining) corpus; `bt-16` ... `bt-2048` in the latent
size m of the loss. `bt-small-synthetic` and `bt-small` are not the paper's: the small CPU encoder of
`barlow_speech.recipes` (chosen by the ablations of docs/representations.md), pretrained on the built-in synthetic
corpus by `barlow-speech demo`, and on the built-in multilingual speech corpus for the encoder shipped in the package.
Each member gives the `BarlowSpeechConfig` overrides that reproduce it and the metadata its model
card carries, so `AutoModel.from_pretrained("<org>/bt-ls100", trust_remote_code=True)` is what users type once the
weights are published with `barlow-speech push`.

Facts from the paper (Sec. 2.2-2.3, Tables 1 and 3): ResNet-50 encoder, 50 pretraining epochs, mini-batch 64, latent
m = 2048 (printed as "2028", a typo). The paper does not say which corpus trained the latent-size models; this
registry assumes LibriSpeech train-clean-100 and every card of those models says so. Projector hidden layers are
2048 wide (the ResNet-50 width, as `BarlowSpeechConfig`'s default); only the last layer changes with m.
"""

from __future__ import annotations

from dataclasses import dataclass

from .recipes import BT_SMALL, SMALL_ENCODER, EncoderRecipe

# Paper Sec. 2.3: "50 epochs for each upstream model, with a mini-batch size of n = 64".
PAPER_EPOCHS = 50
PAPER_BATCH_SIZE = 64
PROJECTOR_HIDDEN = 2048


@dataclass(frozen=True)
class UpstreamDataset:
    """A pretraining corpus: dataset id, config, split, a pretty name and whether the id is a Hub dataset repo.

    Only Hub ids go into the card's `datasets:` metadata; VoxCeleb1 has no canonical Hub repo (README, "Datasets").
    """

    dataset_id: str
    config: str | None
    split: str
    pretty_name: str
    domain: str
    on_hub: bool = True


LIBRISPEECH_100 = UpstreamDataset(
    "openslr/librispeech_asr",
    "clean",
    "train.100",
    "LibriSpeech train-clean-100 (100 h)",
    "read English audiobook speech",
)
LIBRISPEECH_360 = UpstreamDataset(
    "openslr/librispeech_asr",
    "clean",
    "train.360",
    "LibriSpeech train-clean-360 (360 h)",
    "read English audiobook speech",
)
VOXCELEB1 = UpstreamDataset(
    "voxceleb1",
    None,
    "dev",
    "VoxCeleb1 dev (1,211 celebrities)",
    "interview speech from YouTube videos, many accents and recording conditions",
    on_hub=False,
)
SYNTHETIC = UpstreamDataset(
    "synthetic",
    None,
    "train",
    "the built-in synthetic corpus (4,000 1-s clips of 64 speakers, barlow_speech.data.synthetic)",
    "synthetic source-filter speech with known speaker, gender, accent, word and emotion",
    on_hub=False,
)
TTS_SPEECH = UpstreamDataset(
    "tts_speech",
    None,
    "pretrain",
    "the built-in multilingual speech corpus (32 pretraining languages spoken by eSpeak NG with generated voices, "
    "barlow_speech.data.tts_speech)",
    "synthesised speech in many languages and voices, with random rooms, noise and channels",
    on_hub=False,
)


@dataclass(frozen=True)
class FamilyMember:
    """One named model: its config overrides and the metadata of its model card.

    `recipe`: the architecture of a member that is not the paper's ResNet-50 (`barlow_speech.recipes`).
    """

    name: str
    upstream: UpstreamDataset
    latent_size: int
    description: str
    upstream_stated_in_paper: bool = True
    recipe: EncoderRecipe | None = None

    def config_overrides(self) -> dict:
        """`BarlowSpeechConfig` keyword arguments that make this member (on top of the ResNet-50 default)."""
        if self.recipe is not None:
            return self.recipe.config_kwargs()
        return {"projector_dims": [PROJECTOR_HIDDEN, PROJECTOR_HIDDEN, self.latent_size]}

    def card_metadata(self) -> dict:
        """Template variables of the model card that depend on the member."""
        note = (
            ""
            if self.upstream_stated_in_paper
            else (
                " The paper does not state the corpus of its latent-size models; this model assumes "
                f"{self.upstream.pretty_name}."
            )
        )
        return {
            "family_name": self.name,
            "family_description": self.description + note,
            "upstream_dataset": self.upstream.dataset_id,
            "upstream_dataset_name": self.upstream.pretty_name,
            "upstream_domain": self.upstream.domain,
        }


def _latent_member(size: int) -> FamilyMember:
    return FamilyMember(
        name=f"bt-{size}",
        upstream=LIBRISPEECH_100,
        latent_size=size,
        description=f"Barlow Twins speech encoder with a {size}-d latent (paper Table 3, BT-{size}).",
        upstream_stated_in_paper=False,
    )


FAMILY: dict[str, FamilyMember] = {
    member.name: member
    for member in (
        FamilyMember(
            "bt-ls100",
            LIBRISPEECH_100,
            2048,
            "Barlow Twins speech encoder pretrained on LibriSpeech-100 (paper Table 3, BT-LS-100).",
        ),
        FamilyMember(
            "bt-ls360",
            LIBRISPEECH_360,
            2048,
            "Barlow Twins speech encoder pretrained on LibriSpeech-360 (paper Table 3, BT-LS-360).",
        ),
        FamilyMember(
            "bt-vc1", VOXCELEB1, 2048, "Barlow Twins speech encoder pretrained on VoxCeleb1 (paper Table 3, BT-VC-1)."
        ),
        *(_latent_member(size) for size in (16, 32, 64, 128, 512, 1024, 2048)),
        FamilyMember(
            "bt-small-synthetic",
            SYNTHETIC,
            SMALL_ENCODER.latent_size,
            "Small Barlow Twins speech encoder (ResNet 32-64-128) of the demo's recipe: frequency-preserving pooling "
            "(mean and std over time in frequency bands), a projector that reads every layer's pooled vector, "
            "probed at the layer chosen on validation "
            "(docs/representations.md); not a model of the paper.",
            upstream_stated_in_paper=False,
            recipe=SMALL_ENCODER,
        ),
        FamilyMember(
            "bt-small",
            TTS_SPEECH,
            BT_SMALL.latent_size,
            "Small Barlow Twins speech encoder (ResNet 32-64-128, the demo's recipe) pretrained on the built-in "
            "multilingual speech corpus; its embedding concatenates every layer's pooled vector. Shipped in the "
            'package: `barlow_speech.pretrained("bt-small")`. Not a model of the paper.',
            recipe=BT_SMALL,
        ),
    )
}


def family_member(name: str) -> FamilyMember:
    """Look a member up by name (`"bt-ls100"`, `"BT-LS-100"` and `"org/bt-ls100"` all work)."""
    key = name.rsplit("/", 1)[-1].lower().replace("bt-ls-", "bt-ls").replace("bt-vc-", "bt-vc")
    if key not in FAMILY:
        raise ValueError(f"unknown model {name!r}; the family is {sorted(FAMILY)}.")
    return FAMILY[key]


def find_family_member(repo_or_name: str | None) -> FamilyMember | None:
    """The member a repo id or model name refers to, or None when it names none of them."""
    if not repo_or_name:
        return None
    try:
        return family_member(repo_or_name)
    except ValueError:
        return None


__all__ = [
    "FAMILY",
    "SYNTHETIC",
    "TTS_SPEECH",
    "FamilyMember",
    "UpstreamDataset",
    "family_member",
    "find_family_member",
]
