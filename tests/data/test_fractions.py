import numpy as np
import pytest

from barlow_speech.data.fractions import label_fraction_indices, load_fraction_indices, save_fraction_indices


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
    loaded = load_fraction_indices(path)
    assert loaded.keys() == subsets.keys()
    assert all(np.array_equal(loaded[k], subsets[k]) for k in subsets)


@pytest.mark.parametrize("fractions", [(0.0,), (1.5,), ()])
def test_bad_fractions_are_rejected(fractions):
    with pytest.raises(ValueError, match="fraction"):
        label_fraction_indices([0, 1], fractions=fractions, seeds=[0])


def test_missing_index_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_fraction_indices"):
        load_fraction_indices(tmp_path / "nope.json")
