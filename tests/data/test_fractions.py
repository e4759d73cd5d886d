import numpy as np
import pytest

from barlow_speech.data.fractions import (
    check_fraction_indices,
    fraction_indices_to_json,
    label_fraction_indices,
    load_fraction_indices,
    save_fraction_indices,
)
from barlow_speech.evaluation.probes import linear_probe


def make_labels(counts=(40, 25, 3, 1), seed=0):
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    return np.random.default_rng(seed).permutation(labels)


def test_every_class_keeps_an_example_and_sizes_follow_the_fraction():
    labels = make_labels()
    subsets = label_fraction_indices(labels, fractions=(0.05, 0.5, 1.0), seeds=range(3))
    assert len(subsets) == 9
    for (fraction, _), idx in subsets.items():
        counts = np.bincount(labels[idx], minlength=4)
        assert (counts >= 1).all()
        expected = [max(1, round(fraction * n)) for n in (40, 25, 3, 1)]
        assert counts.tolist() == expected
        assert len(np.unique(idx)) == len(idx)
    assert subsets[(1.0, 0)].tolist() == list(range(len(labels)))


def test_subsets_are_reproducible_per_seed_differ_across_seeds_and_are_nested():
    labels = make_labels()
    a = label_fraction_indices(labels, fractions=(0.1, 0.5), seeds=[0, 1])
    b = label_fraction_indices(labels, fractions=(0.5,), seeds=[1])
    assert np.array_equal(a[(0.5, 1)], b[(0.5, 1)])
    assert not np.array_equal(a[(0.5, 0)], a[(0.5, 1)])
    assert set(a[(0.1, 0)]) <= set(a[(0.5, 0)])


def test_string_labels_work():
    subsets = label_fraction_indices(["a", "b", "b", "a", "c"], fractions=(0.1,), seeds=[0])
    assert len(subsets[(0.1, 0)]) == 3


def test_index_lists_survive_a_json_round_trip(tmp_path):
    subsets = label_fraction_indices(make_labels(), fractions=(0.05, 1.0), seeds=range(2))
    path = save_fraction_indices(subsets, 69, tmp_path / "idx" / "fractions.json")
    loaded = load_fraction_indices(path, num_examples=69)
    assert loaded.keys() == subsets.keys() and loaded.num_examples == 69
    assert all(np.array_equal(loaded[k], subsets[k]) for k in subsets)


def test_index_file_saved_for_another_split_size_is_rejected_on_load(tmp_path):
    path = save_fraction_indices(label_fraction_indices(make_labels(), (0.5,), [0]), 69, tmp_path / "fractions.json")
    with pytest.raises(
        ValueError, match=r"fractions.json was saved for a train split of 69 examples.*has 80.*label_fraction_indices"
    ):
        load_fraction_indices(path, num_examples=80)


def test_out_of_range_indices_are_rejected_even_without_a_saved_size():
    subsets = {(0.5, 0): np.array([0, 3, 12])}
    with pytest.raises(ValueError, match=r"fraction=0.5, seed=0.*\[0, 12\].*\[0, 10\)"):
        check_fraction_indices(subsets, 10, split="train")
    check_fraction_indices(subsets, 13)  # fits a split of 13 rows


def test_saving_index_lists_with_the_wrong_split_size_is_rejected(tmp_path):
    subsets = label_fraction_indices(make_labels(), (0.5,), [0])
    with pytest.raises(ValueError, match="outside"):
        fraction_indices_to_json(subsets, 50)


def test_linear_probe_rejects_index_lists_saved_for_another_split(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    x = rng.normal(size=(60, 4)) + labels[:, None]
    other_split = np.arange(50) % 3  # same classes, 50 rows: every index is in range for the 60-row split
    path = save_fraction_indices(label_fraction_indices(other_split, (0.5,), [0]), 50, tmp_path / "fractions.json")
    with pytest.raises(ValueError, match="saved for a train split of 50 examples"):
        linear_probe(
            x,
            labels,
            x,
            labels,
            x,
            labels,
            fractions=(0.5,),
            seeds=[0],
            weight_decays=(1e-2,),
            steps=3,
            device="cpu",
            subsets=load_fraction_indices(path),
        )


@pytest.mark.parametrize("fractions", [(0.0,), (1.5,), ()])
def test_bad_fractions_are_rejected(fractions):
    with pytest.raises(ValueError, match="fraction"):
        label_fraction_indices([0, 1], fractions=fractions, seeds=[0])


def test_missing_index_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_fraction_indices"):
        load_fraction_indices(tmp_path / "nope.json")
