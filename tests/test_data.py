"""Tests for engine.data: tokenizer, vocabulary, encoding, sources, cache and errors."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from engine import data
from engine.data import (
    DataError,
    DataRef,
    DataSettings,
    build_vocab,
    encode,
    load_dataset,
    prepare_data,
    tokenize,
)

REPO = Path(__file__).resolve().parent.parent
FULL_ARCHIVE = REPO / ".." / "shared" / "data" / "aclImdb_labeled.tar.gz"

# Small handmade reviews: positive ones have 3 words, negative ones 5, so a row's label can be
# read back from its length (1 start id + words) and checked against y.
POS = ["great fun film", "loved this<br />one", "Great, GREAT acting!"]
NEG = ["bad boring film, truly bad", "awful plot and bad actors", "dull dull dull and long"]
TINY = DataSettings(vocab_size=30, max_len=12, n_train=None, n_val=2, seed=0)


def make_acl(root: Path, n: int = 4, extra: dict[str, str] | None = None) -> Path:
    """An aclImdb folder with n reviews per split and label (plus any `extra` files)."""
    for split in ("train", "test"):
        for label, texts in (("pos", POS), ("neg", NEG)):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(texts[i % len(texts)])
    for name, text in (extra or {}).items():
        (root / "aclImdb" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "aclImdb" / name).write_text(text)
    return root / "aclImdb"


def make_tar(folder: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    return out


def object_array(rows: list[list[int]]) -> np.ndarray:
    arr = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        arr[i] = row
    return arr


def label_from_length(x: np.ndarray) -> np.ndarray:
    """1.0 for rows of a 3-word (positive) review, 0.0 for 5 words (negative)."""
    lengths = (x != 0).sum(axis=1)
    assert set(lengths.tolist()) <= {4, 6}, lengths
    return (lengths == 4).astype(np.float32)


# --------------------------------------------------------------------------- text -> ids


def test_tokenize_hand_examples() -> None:
    assert tokenize("Great movie!<br /><br />I LOVED it, didn't you? 10/10") == [
        "great", "movie", "i", "loved", "it", "didn't", "you", "10", "10",
    ]  # fmt: skip
    # Without the <br /> rule "br" would appear as a word.
    assert tokenize("end.<br />Start") == ["end", "start"]
    assert tokenize("rock'n'roll -- it's  ok...") == ["rock'n", "roll", "it's", "ok"]
    assert tokenize("") == []


def test_build_vocab_ranks_ties_and_size() -> None:
    # a:3, b:2, c:1, d:1; d is seen first, but the tie goes alphabetically to c.
    texts = ["b a d", "a b", "a c"]
    assert build_vocab(texts, vocab_size=6) == {"a": 3, "b": 4, "c": 5}
    assert build_vocab(texts, vocab_size=4) == {"a": 3}
    assert build_vocab(texts, vocab_size=100) == {"a": 3, "b": 4, "c": 5, "d": 6}
    assert build_vocab(["Zeta alpha", "ZETA"], vocab_size=5) == {"zeta": 3, "alpha": 4}


def test_encode_start_padding_truncation_and_overflow() -> None:
    vocab = build_vocab(["b a d", "a b", "a c"], vocab_size=6)  # d overflows -> unknown
    x = encode(["a b", "c d a b c", ""], vocab, max_len=4)
    expected = np.array([[0, 1, 3, 4], [2, 3, 4, 5], [0, 0, 0, 1]], dtype=np.int32)
    assert x.dtype == np.int32
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(encode(["d a"], vocab, max_len=5), [[0, 0, 1, 2, 3]])


# --------------------------------------------------------------------------- aclImdb sources


def test_acl_folder_loads_with_labels_and_shapes(tmp_path: Path) -> None:
    root = make_acl(tmp_path / "src", n=5)
    ref = prepare_data(str(root), TINY, cache_dir=tmp_path / "cache")
    assert (ref.source, ref.n_train, ref.n_val, ref.n_test) == ("aclImdb", 8, 2, 10)
    assert (ref.vocab_size, ref.max_len) == (30, 12)
    ds = load_dataset(ref)
    for x, y, n in ((ds.x_train, ds.y_train, 8), (ds.x_val, ds.y_val, 2),
                    (ds.x_test, ds.y_test, 10)):  # fmt: skip
        assert x.shape == (n, 12) and x.dtype == np.int32
        assert y.shape == (n,) and y.dtype == np.float32
        np.testing.assert_array_equal(y, label_from_length(x))
        assert x.max() < 30
    # Every review starts with the start id right after the padding.
    assert all(row[row != 0][0] == 1 for row in ds.x_test)
    assert ds.y_test.sum() == 5
    # The parent folder of aclImdb is accepted too.
    ref2 = prepare_data(str(root.parent), TINY, cache_dir=tmp_path / "cache2")
    np.testing.assert_array_equal(load_dataset(ref2).x_test, ds.x_test)


def test_tar_gz_matches_folder_and_ignores_other_members(tmp_path: Path) -> None:
    root = make_acl(
        tmp_path / "src", n=5,
        extra={"train/unsup/0_0.txt": "unlabeled words", "README": "x", "imdb.vocab": "a"},
    )  # fmt: skip
    tgz = make_tar(root, tmp_path / "acl.tgz")
    ref_tar = prepare_data(str(tgz), TINY, cache_dir=tmp_path / "cache")
    ref_dir = prepare_data(str(root), TINY, cache_dir=tmp_path / "cache")
    assert ref_tar.source == "aclImdb" and ref_tar.location == str(tgz.resolve())
    assert ref_tar.path != ref_dir.path
    a, b = load_dataset(ref_tar), load_dataset(ref_dir)
    for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert (ref_tar.n_train, ref_tar.n_val, ref_tar.n_test) == (8, 2, 10)  # no unsup review


def test_vocab_comes_from_train_split_only(tmp_path: Path) -> None:
    root = make_acl(tmp_path / "src", n=3)
    # A word frequent in the test reviews but absent from training must be unknown (2).
    (root / "test" / "pos" / "0_8.txt").write_text("zebra zebra zebra")
    settings = DataSettings(vocab_size=1000, max_len=12, n_train=None, n_val=1, seed=1)
    ds = load_dataset(prepare_data(str(root), settings, cache_dir=tmp_path / "c"))
    assert any(list(row[-4:]) == [1, 2, 2, 2] for row in ds.x_test)
    assert 2 not in ds.x_train  # everything in train is in the (big) vocabulary


def test_n_limits_and_seed(tmp_path: Path) -> None:
    root = make_acl(tmp_path / "src", n=10)
    s = DataSettings(vocab_size=30, max_len=8, n_train=5, n_val=3, n_test=4, seed=7)
    ref = prepare_data(str(root), s, cache_dir=tmp_path / "c")
    assert (ref.n_train, ref.n_val, ref.n_test) == (5, 3, 4)
    other = prepare_data(str(root), DataSettings(**{**s.__dict__, "seed": 8}), tmp_path / "c")
    assert other.path != ref.path
    a, b = load_dataset(ref), load_dataset(other)
    assert not np.array_equal(a.y_train, b.y_train) or not np.array_equal(a.x_train, b.x_train)


# --------------------------------------------------------------------------- bundled sample


def test_sample_loads(tmp_path: Path) -> None:
    ref = prepare_data("sample", DataSettings(), cache_dir=tmp_path)
    assert ref.source == "sample" and ref.location == "bundled sample"
    # Fewer reviews than asked for: 20% of the available train reviews go to validation.
    avail = ref.n_train + ref.n_val
    assert avail >= 3000 and ref.n_val == avail // 5 and ref.n_test >= 1000
    ds = load_dataset(ref)
    assert ds.x_train.shape == (ref.n_train, 200) and ds.x_test.shape == (ref.n_test, 200)
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert set(np.unique(y).tolist()) == {0.0, 1.0}
        assert 0.4 < y.mean() < 0.6
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert x.dtype == np.int32 and x.min() >= 0 and x.max() < 10_000
    assert data.SAMPLE_FILE.stat().st_size <= 3_000_000


def test_auto_offline_falls_back_to_sample(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no Keras cache there
    monkeypatch.setattr(data, "_unreachable", lambda: "no route (test)")
    ref = prepare_data("auto", DataSettings(vocab_size=500, max_len=20), cache_dir=tmp_path)
    assert ref.source == "sample"
    assert "no Keras cache" in ref.reason and "offline (no route (test))" in ref.reason
    assert "bundled sample" in ref.reason


def test_auto_uses_keras_cache_when_present(tmp_path: Path, monkeypatch) -> None:
    keras_file = tmp_path / "keras" / "datasets" / "imdb.npz"
    keras_file.parent.mkdir(parents=True)
    write_keras_npz(keras_file)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "_unreachable", lambda: pytest.fail("must not probe the network"))
    ref = prepare_data("auto", DataSettings(vocab_size=10, max_len=5, n_val=0), tmp_path)
    assert ref.source == "keras-imdb" and ref.location == str(keras_file)
    assert "Keras cache" in ref.reason and (ref.n_train, ref.n_test) == (3, 2)
    # --data keras finds the same file and shares the cache (no TensorFlow import needed).
    assert (
        prepare_data("keras", DataSettings(vocab_size=10, max_len=5, n_val=0), tmp_path).path
        == ref.path
    )
    # A broken Keras cache must not break --data auto.
    keras_file.write_bytes(b"not a zip")
    ref = prepare_data("auto", DataSettings(vocab_size=500, max_len=20), tmp_path)
    assert ref.source == "sample" and "unusable" in ref.reason


# --------------------------------------------------------------------------- Keras-format npz


def write_keras_npz(path: Path) -> None:
    np.savez(
        path,
        x_train=object_array([[1, 2, 3], [4, 7], [6]]),  # raw 1-based word ranks
        y_train=np.array([1, 0, 1]),
        x_test=object_array([[5, 5, 1], [2]]),
        y_test=np.array([0, 1]),
    )


def test_keras_npz_path(tmp_path: Path) -> None:
    path = tmp_path / "imdb.npz"
    write_keras_npz(path)
    s = DataSettings(vocab_size=10, max_len=5, n_train=None, n_val=0)
    ref = prepare_data(str(path), s, cache_dir=tmp_path / "c")
    assert (ref.source, ref.n_train, ref.n_val, ref.n_test) == ("keras-imdb", 3, 0, 2)
    ds = load_dataset(ref)
    # start id 1, ranks + 3, ids >= vocab_size (10) -> 2, pre-padded to 5.
    got = {tuple(r): y for r, y in zip(ds.x_train.tolist(), ds.y_train.tolist(), strict=True)}
    assert got == {(0, 1, 4, 5, 6): 1.0, (0, 0, 1, 7, 2): 0.0, (0, 0, 0, 1, 9): 1.0}
    got = {tuple(r): y for r, y in zip(ds.x_test.tolist(), ds.y_test.tolist(), strict=True)}
    assert got == {(0, 1, 8, 8, 4): 0.0, (0, 0, 0, 1, 5): 1.0}
    assert ds.x_val.shape == (0, 5)


def test_keras_offline_without_cache_fails_fast(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "_unreachable", lambda: "cannot reach the host (test)")
    with pytest.raises(DataError, match="no Keras cache at .*cannot reach the host"):
        prepare_data("keras", TINY, cache_dir=tmp_path)


@pytest.mark.slow
def test_keras_npz_reader_matches_keras_load_data(tmp_path: Path, monkeypatch) -> None:
    """Our TensorFlow-free reader must give what tf.keras.datasets.imdb.load_data gives."""
    imdb = pytest.importorskip("keras.src.datasets.imdb")
    path = tmp_path / "imdb.npz"
    rng = np.random.default_rng(3)
    rows = [rng.integers(1, 40, rng.integers(1, 30)).tolist() for _ in range(60)]
    np.savez(path, x_train=object_array(rows[:40]), y_train=rng.integers(0, 2, 40),
             x_test=object_array(rows[40:]), y_test=rng.integers(0, 2, 20))  # fmt: skip
    # Skip only the download/hash step; everything after it is Keras' own code.
    monkeypatch.setattr(imdb, "get_file", lambda *a, **k: str(path))
    (kx_tr, ky_tr), (kx_te, ky_te) = imdb.load_data(num_words=25, index_from=3)
    x_tr, y_tr, x_te, y_te = data._read_keras_npz(path, vocab_size=25)
    assert [list(r) for r in kx_tr] == x_tr and [list(r) for r in kx_te] == x_te
    np.testing.assert_array_equal(ky_tr, y_tr)
    np.testing.assert_array_equal(ky_te, y_te)


# --------------------------------------------------------------------------- cache


def test_cache_reused_without_reading_source(tmp_path: Path, monkeypatch) -> None:
    tgz = make_tar(make_acl(tmp_path / "src"), tmp_path / "acl.tar.gz")
    ref = prepare_data(str(tgz), TINY, cache_dir=tmp_path / "c")
    mtime = os.stat(ref.path).st_mtime_ns

    def boom(*_a, **_k):
        raise AssertionError("source re-read despite a cache hit")

    monkeypatch.setattr(data, "_read_acl_tar", boom)
    again = prepare_data(str(tgz), TINY, cache_dir=tmp_path / "c")
    assert again == ref and os.stat(ref.path).st_mtime_ns == mtime
    assert pickle.loads(pickle.dumps(again)) == again
    assert [p.name for p in (tmp_path / "c").iterdir()] == [Path(ref.path).name]  # no temp left
    # Other settings or a changed source mean a new cache file, so the reader runs again.
    with pytest.raises(AssertionError, match="re-read"):
        prepare_data(str(tgz), DataSettings(**{**TINY.__dict__, "max_len": 7}), tmp_path / "c")
    os.utime(tgz, ns=(mtime, mtime + 10**9))
    with pytest.raises(AssertionError, match="re-read"):
        prepare_data(str(tgz), TINY, cache_dir=tmp_path / "c")


def test_load_dataset_missing_cache_file(tmp_path: Path) -> None:
    ref = DataRef(str(tmp_path / "gone.npz"), "sample", "bundled sample", "", 1, 1, 1, 10, 5)
    with pytest.raises(DataError, match="gone.npz"):
        load_dataset(ref)


# --------------------------------------------------------------------------- errors


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "aclImdb.tar.gz"
    with pytest.raises(DataError, match="does not exist") as err:
        prepare_data(str(missing), TINY, cache_dir=tmp_path)
    assert str(missing) in str(err.value)


def test_garbage_tar_gz(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"this is not a gzip file at all" * 100)
    with pytest.raises(DataError, match="corrupt") as err:
        prepare_data(str(bad), TINY, cache_dir=tmp_path)
    assert str(bad) in str(err.value)


def test_truncated_gzip(tmp_path: Path) -> None:
    # Enough incompressible text that the cut falls inside the archive's members.
    rng = np.random.default_rng(0)
    root = make_acl(tmp_path / "src")
    for i in range(40):
        words = " ".join(f"w{v}" for v in rng.integers(0, 10**6, 300))
        (root / "train" / "pos" / f"{100 + i}_9.txt").write_text(words)
    raw = make_tar(root, tmp_path / "full.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="corrupt") as err:
        prepare_data(str(cut), TINY, cache_dir=tmp_path)
    assert str(cut) in str(err.value)


def test_corrupt_gzip_body(tmp_path: Path) -> None:
    raw = bytearray(make_tar(make_acl(tmp_path / "src"), tmp_path / "a.tar.gz").read_bytes())
    raw[40:80] = b"\xff" * 40  # inside the deflate stream
    bad = tmp_path / "flipped.tar.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="corrupt"):
        prepare_data(str(bad), TINY, cache_dir=tmp_path)


def test_wrong_layout_tar_and_folder(tmp_path: Path) -> None:
    tgz = tmp_path / "flat.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name in ("reviews/1.txt", "aclImdb/train/pos/1_9.txt"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"good"))
    with pytest.raises(DataError, match="train/neg, test/pos, test/neg") as err:
        prepare_data(str(tgz), TINY, cache_dir=tmp_path)
    assert str(tgz) in str(err.value) and "expected" in str(err.value)

    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(DataError, match="not an aclImdb dataset") as err:
        prepare_data(str(folder), TINY, cache_dir=tmp_path)
    assert str(folder) in str(err.value)


def test_plain_gzip_that_is_not_a_tar(tmp_path: Path) -> None:
    bad = tmp_path / "text.tar.gz"
    bad.write_bytes(gzip.compress(b"just some text, not a tar archive\n" * 50))
    with pytest.raises(DataError, match="text.tar.gz"):
        prepare_data(str(bad), TINY, cache_dir=tmp_path)


def test_bad_npz(tmp_path: Path) -> None:
    wrong_keys = tmp_path / "wrong.npz"
    np.savez(wrong_keys, x_train=object_array([[1]]), labels=np.array([1]))
    with pytest.raises(DataError, match="missing y_train, x_test, y_test") as err:
        prepare_data(str(wrong_keys), TINY, cache_dir=tmp_path)
    assert str(wrong_keys) in str(err.value)

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 but not really a zip")
    with pytest.raises(DataError, match="garbage.npz"):
        prepare_data(str(garbage), TINY, cache_dir=tmp_path)


def test_npz_with_foreign_pickle_is_refused(tmp_path: Path) -> None:
    # Pickled references to arbitrary callables are how a hostile npz would run code.
    hostile = tmp_path / "hostile.npz"
    x = object_array([[1, 2]])
    x[0] = os.getcwd  # any non-numpy global
    np.savez(hostile, x_train=x, y_train=np.array([1]), x_test=x, y_test=np.array([0]))
    with pytest.raises(DataError, match="refusing"):
        prepare_data(str(hostile), TINY, cache_dir=tmp_path)


def test_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="vocab_size"):
        prepare_data("sample", DataSettings(vocab_size=3), cache_dir=tmp_path)
    with pytest.raises(DataError, match="max_len"):
        prepare_data("sample", DataSettings(max_len=0), cache_dir=tmp_path)


def test_default_cache_dir_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HPTUI_CACHE_DIR", str(tmp_path / "here"))
    assert data.default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("HPTUI_CACHE_DIR")
    assert data.default_cache_dir() == Path.home() / ".cache" / "hptui" / "data"


# --------------------------------------------------------------------------- full data


@pytest.mark.slow
@pytest.mark.skipif(
    not FULL_ARCHIVE.is_file(),
    reason="../shared/data/aclImdb_labeled.tar.gz is not present (only on the development machine)",
)
def test_full_archive(tmp_path: Path) -> None:
    ref = prepare_data(str(FULL_ARCHIVE), DataSettings(), cache_dir=tmp_path)
    assert (ref.n_train, ref.n_val, ref.n_test) == (20_000, 5_000, 25_000)
    ds = load_dataset(ref)
    assert ds.x_train.shape == (20_000, 200) and ds.x_test.shape == (25_000, 200)
    # All 25,000 training reviews, 12,500 per label, end up in train + val.
    assert ds.y_train.sum() + ds.y_val.sum() == 12_500
    assert ds.y_test.sum() == 12_500
    assert 0.45 < ds.y_val.mean() < 0.55
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert x.min() >= 0 and x.max() < 10_000
    # The vocabulary is used in full (pre-truncation may hide a few rare words).
    assert len(np.unique(ds.x_train)) > 9_500
    # Id 3 is the most frequent word ("the"); 1 starts every review shorter than max_len.
    ids, counts = np.unique(ds.x_train[ds.x_train >= 3], return_counts=True)
    assert ids[np.argmax(counts)] == 3
    short = ds.x_train[:, 0] == 0
    assert short.any() and all(row[row != 0][0] == 1 for row in ds.x_train[short][:100])
