"""IMDB data for the LSTM sentiment classifier (SPEC §1).

Sources (the ``spec`` of :func:`prepare_data`):

* ``"auto"``   - the Keras cache ``imdb.npz`` if present, else a download through Keras if the
  network answers, else the bundled sample.
* ``"keras"``  - ``tf.keras.datasets.imdb.load_data`` (downloads if needed).
* ``"sample"`` - the small sample of real reviews bundled in ``engine/sample/``.
* a path       - an ``aclImdb`` folder, an aclImdb tar archive (``.tar.gz``/``.tgz``/...), or a
  Keras-format ``imdb.npz``.

Ids follow the Keras convention: 0 = padding, 1 = start, 2 = unknown, words from 3 upwards
(our own vocabulary: 3 = most frequent training word; a Keras npz keeps its own ranks + 3).
Every id is < ``vocab_size``. Each review becomes ``[1] + ids``, padded and truncated at the
front to ``max_len``.

:func:`prepare_data` does the slow part once (read, tokenize, split) and writes the arrays to an
uncompressed ``.npz`` cache keyed by the source's identity and the settings; the returned
:class:`DataRef` is small and picklable, and :func:`load_dataset` turns it back into arrays in a
fraction of a second in every worker process.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import pickle
import re
import socket
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DataError",
    "DataRef",
    "DataSettings",
    "Dataset",
    "build_vocab",
    "default_cache_dir",
    "encode",
    "load_dataset",
    "prepare_data",
    "tokenize",
]

# Bump when the tokenizer, split or array layout changes, so stale caches are not reused.
FORMAT_VERSION = 1

PAD, START, OOV = 0, 1, 2
INDEX_FROM = 3  # first word id (Keras `index_from`)

SAMPLE_FILE = Path(__file__).parent / "sample" / "imdb_sample.tar.xz"
KERAS_ORIGIN_HOST = ("storage.googleapis.com", 443)
REACH_TIMEOUT_S = 3.0

_BR = re.compile(r"<br\s*/?>")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Member names like "aclImdb/train/pos/123_9.txt"; any leading folder is accepted, and
# train/unsup, *.feat, urls_*.txt etc. simply do not match.
_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/([^/]+\.txt)$")
_GROUPS = ("train/pos", "train/neg", "test/pos", "test/neg")
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DataError(ValueError):
    """The data source is missing, corrupt or not laid out as expected."""


@dataclass(frozen=True)
class DataSettings:
    vocab_size: int = 10_000
    max_len: int = 200
    n_train: int | None = 20_000  # None = all available after n_val is taken
    n_val: int = 5_000
    n_test: int | None = None  # None = all test reviews
    seed: int = 42


@dataclass(frozen=True)
class DataRef:
    """Where the prepared arrays are; small and picklable, sent to every worker process."""

    path: str  # the .npz cache file holding the tokenized arrays
    source: str  # "keras-imdb", "aclImdb", or "sample"
    location: str  # file/folder it came from ("bundled sample" for the sample)
    reason: str  # why this source was used
    n_train: int
    n_val: int
    n_test: int
    vocab_size: int
    max_len: int


@dataclass
class Dataset:
    x_train: np.ndarray  # int32 (n, max_len)
    y_train: np.ndarray  # float32 (n,) of 0/1
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# --------------------------------------------------------------------------- text -> ids


def tokenize(text: str) -> list[str]:
    """Lowercase words of a review; HTML line breaks count as spaces."""
    return _WORD.findall(_BR.sub(" ", text.lower()))


def build_vocab(texts: Iterable[str], vocab_size: int) -> dict[str, int]:
    """The ``vocab_size - 3`` most frequent words -> ids 3, 4, ... (ties alphabetical)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(tokenize(text))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    n_words = max(0, vocab_size - INDEX_FROM)
    return {word: INDEX_FROM + rank for rank, (word, _) in enumerate(ranked[:n_words])}


def encode(texts: Iterable[str], vocab: dict[str, int], max_len: int) -> np.ndarray:
    """``[1] + ids`` per text (unknown words -> 2), pre-padded and pre-truncated to max_len."""
    return _pad([[START] + [vocab.get(w, OOV) for w in tokenize(t)] for t in texts], max_len)


def _pad(seqs: Sequence[Sequence[int]], max_len: int) -> np.ndarray:
    """Keras ``pad_sequences(padding="pre", truncating="pre")`` into an int32 matrix."""
    out = np.zeros((len(seqs), max_len), dtype=np.int32)
    if max_len <= 0:
        return out
    for i, seq in enumerate(seqs):
        tail = seq[-max_len:]
        if len(tail):
            out[i, max_len - len(tail) :] = tail
    return out


# --------------------------------------------------------------------------- public entry points


def default_cache_dir() -> Path:
    """``$HPTUI_CACHE_DIR``, else ``~/.cache/hptui/data``."""
    env = os.environ.get("HPTUI_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hptui" / "data"


def keras_cache_file() -> Path:
    """Where Keras keeps (or would download) ``imdb.npz``; mirrors keras' own choice."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        # Keras falls back to /tmp when the home folder is not writable.
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home).expanduser() / "datasets" / "imdb.npz"


def prepare_data(spec: str, settings: DataSettings, cache_dir: str | Path | None = None) -> DataRef:
    """Resolve ``spec`` to a source, tokenize and split it once, and cache the arrays.

    A second call with the same source (same file size and mtime) and settings returns the
    cached file without reading the source again.
    """
    _check_settings(settings)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    spec = (spec or "auto").strip()

    if spec == "auto":
        return _prepare_auto(settings, cache)
    if spec == "keras":
        return _prepare_keras(settings, cache, "--data keras")
    if spec == "sample":
        return _prepare_sample(settings, cache, "--data sample: the bundled sample")
    return _prepare_path(Path(spec).expanduser(), settings, cache)


def missing_source(spec: str) -> str | None:
    """Why the source named by ``spec`` is not there now (None: it is, or it is not a path).
    Cheap: a run that carries on checks it before it changes anything."""
    spec = (spec or "auto").strip()
    if spec in ("auto", "keras", "sample"):
        return None
    path = Path(spec).expanduser()
    try:
        if path.exists():
            return None
    except OSError as exc:
        return f"its data {spec} cannot be reached ({exc.strerror or exc})"
    return f"its data {spec} is missing (moved, renamed or deleted?)"


def load_dataset(ref: DataRef) -> Dataset:
    """Load the arrays that :func:`prepare_data` cached (plain ``np.load``, no pickles)."""
    try:
        with np.load(ref.path, allow_pickle=False) as f:
            return Dataset(**{k: f[k] for k in _ARRAY_KEYS})
    except FileNotFoundError as exc:
        raise DataError(f"prepared data {ref.path} is gone; run prepare_data again") from exc
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"prepared data {ref.path} is unreadable: {exc}") from exc


_ARRAY_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


# --------------------------------------------------------------------------- source selection


def _prepare_auto(settings: DataSettings, cache: Path) -> DataRef:
    keras_file = keras_cache_file()
    if keras_file.is_file():
        reason = f"--data auto: using the Keras cache at {keras_file}"
        try:
            return _prepare_keras_npz(keras_file, settings, cache, reason)
        except DataError as exc:
            why = f"the Keras cache at {keras_file} is unusable ({exc})"
    else:
        problem = _unreachable()
        if problem is None:
            try:
                return _prepare_keras(
                    settings,
                    cache,
                    f"--data auto: no Keras cache at {keras_file}; downloaded it through Keras",
                )
            except DataError as exc:
                why = f"no Keras cache at {keras_file}; download failed ({exc})"
        else:
            why = f"no Keras cache at {keras_file}; offline ({problem})"
    return _prepare_sample(settings, cache, f"--data auto: {why}; using the bundled sample")


def _unreachable() -> str | None:
    """None when the Keras download host answers quickly, else why not (no long hangs offline)."""
    try:
        with socket.create_connection(KERAS_ORIGIN_HOST, timeout=REACH_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"cannot reach {KERAS_ORIGIN_HOST[0]}: {exc}"


def _prepare_keras(settings: DataSettings, cache: Path, reason: str) -> DataRef:
    keras_file = keras_cache_file()
    if keras_file.is_file():
        hit = _cached(cache, _file_identity("keras-imdb", keras_file), settings)
        if hit is not None:
            return _ref(hit, "keras-imdb", str(keras_file), reason, settings)
    else:
        problem = _unreachable()
        if problem is not None:  # fail fast instead of waiting on Keras' download timeout
            raise DataError(f"no Keras cache at {keras_file} and {problem}")
    try:
        import tensorflow as tf  # lazy: importing TF takes seconds and most paths never need it

        (x_tr, y_tr), (x_te, y_te) = tf.keras.datasets.imdb.load_data(
            num_words=settings.vocab_size, index_from=INDEX_FROM
        )
    except Exception as exc:  # network, hash mismatch, ...: all mean "Keras could not give it"
        raise DataError(f"tf.keras.datasets.imdb.load_data failed: {exc}") from exc
    if not keras_file.is_file():  # keras chose another folder (should not happen)
        raise DataError(f"Keras did not leave imdb.npz at {keras_file}")
    ident = _file_identity("keras-imdb", keras_file)
    return _store_ids(
        ident, x_tr, y_tr, x_te, y_te, "keras-imdb", str(keras_file), reason, settings, cache
    )


def _prepare_sample(settings: DataSettings, cache: Path, reason: str) -> DataRef:
    if not SAMPLE_FILE.is_file():
        raise DataError(f"the bundled sample {SAMPLE_FILE.name} is missing from the package")
    digest = hashlib.sha256(SAMPLE_FILE.read_bytes()).hexdigest()
    ident = {"kind": "sample", "sha256": digest}
    hit = _cached(cache, ident, settings)
    if hit is not None:
        return _ref(hit, "sample", "bundled sample", reason, settings)
    reviews = _read_acl_tar(SAMPLE_FILE)
    return _store_texts(ident, reviews, "sample", "bundled sample", reason, settings, cache)


def _prepare_path(path: Path, settings: DataSettings, cache: Path) -> DataRef:
    if not path.exists():
        raise DataError(f"data path {path} does not exist")
    path = path.resolve()
    if path.is_dir():
        root = _acl_root(path)
        reason = f"--data {path}: aclImdb folder"
        ident = _folder_identity(root)
        hit = _cached(cache, ident, settings)
        if hit is not None:
            return _ref(hit, "aclImdb", str(path), reason, settings)
        reviews = _read_acl_folder(root)
        return _store_texts(ident, reviews, "aclImdb", str(path), reason, settings, cache)
    if path.suffix == ".npz":
        return _prepare_keras_npz(path, settings, cache, f"--data {path}: Keras-format npz")
    reason = f"--data {path}: aclImdb archive"
    ident = _file_identity("aclImdb-tar", path)
    hit = _cached(cache, ident, settings)
    if hit is not None:
        return _ref(hit, "aclImdb", str(path), reason, settings)
    reviews = _read_acl_tar(path)
    return _store_texts(ident, reviews, "aclImdb", str(path), reason, settings, cache)


def _prepare_keras_npz(path: Path, settings: DataSettings, cache: Path, reason: str) -> DataRef:
    ident = _file_identity("keras-imdb", path)
    hit = _cached(cache, ident, settings)
    if hit is not None:
        return _ref(hit, "keras-imdb", str(path), reason, settings)
    x_tr, y_tr, x_te, y_te = _read_keras_npz(path, settings.vocab_size)
    return _store_ids(
        ident, x_tr, y_tr, x_te, y_te, "keras-imdb", str(path), reason, settings, cache
    )


# --------------------------------------------------------------------------- readers

# A review: (split, label, file name, text).
Review = tuple[str, int, str, str]


def _read_acl_tar(path: Path) -> list[Review]:
    """Stream an aclImdb tar archive (any compression tarfile knows) without extracting it."""
    reviews: list[Review] = []
    try:
        # "r|*" streams: one pass over the compressed file, members read in archive order.
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                m = _MEMBER.search(member.name)
                if m is None or not member.isfile():
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                reviews.append(_review(m, fh.read()))  # a cut member raises ReadError
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
        raise DataError(
            f"corrupt or unreadable archive {path}: {type(exc).__name__}: {exc}"
        ) from exc
    return _check_layout(reviews, path)


def _acl_root(path: Path) -> Path:
    """Accept both the aclImdb folder itself and a folder that contains it."""
    if not (path / "train").is_dir() and (path / "aclImdb").is_dir():
        return path / "aclImdb"
    return path


def _read_acl_folder(root: Path) -> list[Review]:
    reviews: list[Review] = []
    for group in _GROUPS:
        folder = root / group
        if not folder.is_dir():
            continue
        for file in folder.glob("*.txt"):
            m = _MEMBER.search(f"{group}/{file.name}")
            if m is not None and file.is_file():
                reviews.append(_review(m, file.read_bytes()))
    return _check_layout(reviews, root)


def _review(m: re.Match[str], data: bytes) -> Review:
    return (m.group(1), int(m.group(2) == "pos"), m.group(3), data.decode("utf-8", "replace"))


def _check_layout(reviews: list[Review], path: Path) -> list[Review]:
    found = Counter(f"{split}/{'pos' if label else 'neg'}" for split, label, _, _ in reviews)
    missing = [g for g in _GROUPS if not found[g]]
    if missing:
        raise DataError(
            f"{path} is not an aclImdb dataset: no reviews found in {', '.join(missing)}; "
            "expected aclImdb/train/pos, train/neg, test/pos and test/neg folders of *.txt "
            "reviews"
        )
    # Archive and folder order differ; sort so the seeded split depends only on the content.
    reviews.sort(key=lambda r: (r[0], r[1], r[2]))
    return reviews


# Only what rebuilding numeric object arrays of lists needs; anything else in a pickle
# (os.system, eval, ...) is refused, so a hostile npz cannot run code (as keras does).
_PICKLE_OK = frozenset(
    (mod, name)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
) | {("numpy", "ndarray"), ("numpy", "dtype")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _PICKLE_OK:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _load_npy(raw: bytes) -> np.ndarray:
    fp = io.BytesIO(raw)
    version = np.lib.format.read_magic(fp)
    if version[0] == 1:
        _, _, dtype = np.lib.format.read_array_header_1_0(fp)
    else:  # 2.0 and 3.0 share the header layout
        _, _, dtype = np.lib.format.read_array_header_2_0(fp)
    if not dtype.hasobject:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=False)
    return _SafeUnpickler(fp).load()


def _read_keras_npz(
    path: Path, vocab_size: int
) -> tuple[list[list[int]], np.ndarray, list[list[int]], np.ndarray]:
    """Read a raw Keras ``imdb.npz`` like ``imdb.load_data(num_words=vocab_size)`` does.

    The raw file holds 1-based word ranks; Keras shuffles with seed 113, prepends the start id
    and shifts by index_from=3, then maps ids >= num_words to 2. Doing the same here keeps the
    ``auto``/path branches identical to the ``keras`` branch without importing TensorFlow.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n.removesuffix(".npy"): n for n in archive.namelist()}
            missing = [k for k in _NPZ_KEYS if k not in names]
            if missing:
                raise DataError(
                    f"{path} is not a Keras-format imdb.npz: missing {', '.join(missing)} "
                    f"(found {', '.join(sorted(names)) or 'nothing'}); expected "
                    f"{', '.join(_NPZ_KEYS)}"
                )
            arrays = {k: _load_npy(archive.read(names[k])) for k in _NPZ_KEYS}
    except DataError:
        raise
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        pickle.UnpicklingError,
        zlib.error,
    ) as exc:
        raise DataError(f"corrupt npz {path}: {type(exc).__name__}: {exc}") from exc

    rng = np.random.RandomState(113)
    seqs_of: dict[str, list[list[int]]] = {}
    labels_of: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        xs, ys = _checked_split(path, split, arrays[f"x_{split}"], arrays[f"y_{split}"])
        order = np.arange(len(xs))
        rng.shuffle(order)
        seqs_of[split] = [_keras_ids(xs[i], vocab_size) for i in order]
        labels_of[split] = ys[order]
    return seqs_of["train"], labels_of["train"], seqs_of["test"], labels_of["test"]


def _keras_ids(ranks: np.ndarray, vocab_size: int) -> list[int]:
    """A review's raw word ranks as Keras numbers them: start id, ranks + 3, rare words 2."""
    ids = ranks.astype(np.int64) + INDEX_FROM  # checked: no rank is near int64's end
    return [START, *np.where(ids < vocab_size, ids, OOV).tolist()]


# A raw rank shifted by INDEX_FROM must still fit the int32 arrays the trainers read.
MAX_WORD_RANK = 2**31 - 1 - INDEX_FROM


def _checked_split(
    path: Path, split: str, xs: np.ndarray, ys: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """One split of a Keras npz as word-rank arrays and 0/1 labels, or DataError naming the
    array and what is wrong with it: wrong contents were accepted, a run created, and then
    every trial failed."""
    x_name, y_name = f"x_{split}", f"y_{split}"
    for name, a in ((x_name, xs), (y_name, ys)):
        if not isinstance(a, np.ndarray):
            raise DataError(f"{path}: {name} is a pickled {type(a).__name__}, not an array")
    labels = _labels(path, y_name, ys)
    if xs.ndim == 0 or len(xs) != len(labels) or len(labels) == 0:
        n = "a scalar" if xs.ndim == 0 else len(xs)
        raise DataError(
            f"{path}: {x_name} and {y_name} must be non-empty and of equal length "
            f"(got {n} and {len(labels)})"
        )
    rows = _word_ranks(path, x_name, xs)
    for i, r in enumerate(rows):
        if r.size and (r.min() < 0 or r.max() > MAX_WORD_RANK):
            bad = r.min() if r.min() < 0 else r.max()
            raise DataError(
                f"{path}: {x_name}[{i}] holds word id {bad}; ids must be in [0, {MAX_WORD_RANK}]"
            )
    return rows, labels


def _labels(path: Path, name: str, ys: np.ndarray) -> np.ndarray:
    if ys.ndim != 1 or ys.dtype.kind not in "biuf":
        raise DataError(
            f"{path}: {name} is a {ys.ndim}-D array of {ys.dtype}; expected a 1-D array of "
            "0/1 labels"
        )
    bad = ~np.isin(ys, (0, 1))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{path}: {name}[{i}] is {ys[i].item()!r}; labels must be 0 or 1")
    return ys.astype(np.float32)


def _word_ranks(path: Path, name: str, xs: np.ndarray) -> list[np.ndarray]:
    """x_train / x_test as one integer array per review: Keras saves an object array of
    lists (read by a restricted unpickler, never with allow_pickle); a 2-D integer array
    is taken too."""
    if xs.dtype.kind in "iu" and xs.ndim == 2:
        return list(xs)
    if xs.dtype != object or xs.ndim != 1:
        raise DataError(
            f"{path}: {name} is a {xs.ndim}-D array of {xs.dtype}; expected a list of "
            "word-id lists (a 1-D object array of integer lists, or a 2-D integer array)"
        )
    rows = []
    for i, review in enumerate(xs):
        r = np.asarray(review) if isinstance(review, list | tuple | np.ndarray) else None
        if r is None or r.ndim != 1 or (r.size and r.dtype.kind not in "iu"):
            what = type(review).__name__ if r is None else f"{r.ndim}-D {r.dtype}"
            raise DataError(f"{path}: {name}[{i}] is {what}, not a list of whole word ids")
        rows.append(r if r.size else np.zeros(0, np.int64))
    return rows


# --------------------------------------------------------------------------- split + cache


def _check_settings(s: DataSettings) -> None:
    problems = []
    if s.vocab_size <= INDEX_FROM:
        problems.append(f"vocab_size must be > {INDEX_FROM} (got {s.vocab_size})")
    if s.max_len < 1:
        problems.append(f"max_len must be >= 1 (got {s.max_len})")
    if s.n_train is not None and s.n_train < 1:
        problems.append(f"n_train must be >= 1 or None (got {s.n_train})")
    if s.n_val < 0:
        problems.append(f"n_val must be >= 0 (got {s.n_val})")
    if s.n_test is not None and s.n_test < 1:
        problems.append(f"n_test must be >= 1 or None (got {s.n_test})")
    if problems:
        raise DataError("bad data settings: " + "; ".join(problems))


def _split_sizes(available: int, s: DataSettings) -> tuple[int, int]:
    """(n_train, n_val) actually used from ``available`` training reviews."""
    wanted_train = s.n_train if s.n_train is not None else 1
    if s.n_val + wanted_train <= available:
        n_val = s.n_val
        n_train = s.n_train if s.n_train is not None else available - n_val
    else:  # a small source (the sample): keep 20% for validation, the rest for training
        n_val = min(s.n_val, available // 5)
        n_train = available - n_val
        if s.n_train is not None:
            n_train = min(n_train, s.n_train)
    return n_train, n_val


def _split_indices(
    n_avail_train: int, n_avail_test: int, s: DataSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded (train, val, test) row indices; val comes first so n_train does not move it."""
    n_train, n_val = _split_sizes(n_avail_train, s)
    rng = np.random.default_rng(s.seed)
    perm = rng.permutation(n_avail_train)
    n_test = n_avail_test if s.n_test is None else min(s.n_test, n_avail_test)
    test_perm = rng.permutation(n_avail_test)[:n_test]
    return perm[n_val : n_val + n_train], perm[:n_val], test_perm


def _store_texts(
    ident: dict,
    reviews: list[Review],
    source: str,
    location: str,
    reason: str,
    settings: DataSettings,
    cache: Path,
) -> DataRef:
    train = [r for r in reviews if r[0] == "train"]
    test = [r for r in reviews if r[0] == "test"]
    i_tr, i_va, i_te = _split_indices(len(train), len(test), settings)
    # Vocabulary from the training split only: validation and test words stay unseen.
    vocab = build_vocab((train[i][3] for i in i_tr), settings.vocab_size)

    def enc(rows: list[Review], idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = encode((rows[i][3] for i in idx), vocab, settings.max_len)
        y = np.array([rows[i][1] for i in idx], dtype=np.float32)
        return x, y

    arrays = dict(
        zip(_ARRAY_KEYS, (*enc(train, i_tr), *enc(train, i_va), *enc(test, i_te)), strict=True)
    )
    path = _write_cache(cache, ident, settings, arrays)
    return _ref(path, source, location, reason, settings)


def _store_ids(
    ident: dict,
    x_tr: Sequence,
    y_tr: np.ndarray,
    x_te: Sequence,
    y_te: np.ndarray,
    source: str,
    location: str,
    reason: str,
    settings: DataSettings,
    cache: Path,
) -> DataRef:
    i_tr, i_va, i_te = _split_indices(len(x_tr), len(x_te), settings)
    y_tr = np.asarray(y_tr, dtype=np.float32)
    y_te = np.asarray(y_te, dtype=np.float32)

    def pad(xs: Sequence, idx: np.ndarray) -> np.ndarray:
        x = _pad([list(xs[i]) for i in idx], settings.max_len)
        x[x >= settings.vocab_size] = OOV  # keras already did this; be safe for any npz
        return x

    arrays = {
        "x_train": pad(x_tr, i_tr),
        "y_train": y_tr[i_tr],
        "x_val": pad(x_tr, i_va),
        "y_val": y_tr[i_va],
        "x_test": pad(x_te, i_te),
        "y_test": y_te[i_te],
    }
    path = _write_cache(cache, ident, settings, arrays)
    return _ref(path, source, location, reason, settings)


def _file_identity(kind: str, path: Path) -> dict:
    st = path.stat()
    return {
        "kind": kind,
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
    }


def _folder_identity(root: Path) -> dict:
    """A folder's mtime misses edited files, so fingerprint the review files' stats instead."""
    h = hashlib.sha256()
    for group in _GROUPS:
        folder = root / group
        if not folder.is_dir():
            continue
        with os.scandir(folder) as it:
            for e in sorted(it, key=lambda e: e.name):
                if e.name.endswith(".txt"):
                    st = e.stat()
                    h.update(f"{group}/{e.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return {"kind": "aclImdb-folder", "path": str(root.resolve()), "files": h.hexdigest()}


def _cache_path(cache: Path, ident: dict, settings: DataSettings) -> Path:
    key = json.dumps(
        {"format": FORMAT_VERSION, "source": ident, "settings": asdict(settings)}, sort_keys=True
    )
    return cache / f"imdb-{ident['kind']}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def _cached(cache: Path, ident: dict, settings: DataSettings) -> Path | None:
    path = _cache_path(cache, ident, settings)
    return path if path.is_file() else None


def _write_cache(cache: Path, ident: dict, settings: DataSettings, arrays: dict) -> Path:
    path = _cache_path(cache, ident, settings)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        # temp file + os.replace: concurrent workers never see a half-written cache file.
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=path.stem, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DataError(f"cannot write the data cache in {cache}: {exc}") from exc
    return path


def _ref(path: Path, source: str, location: str, reason: str, s: DataSettings) -> DataRef:
    # The counts come from the file itself so a cache hit reports what is really there.
    with np.load(path, allow_pickle=False) as f:
        n = {k: int(f[k].shape[0]) for k in ("y_train", "y_val", "y_test")}  # tiny arrays
    return DataRef(
        path=str(path),
        source=source,
        location=location,
        reason=reason,
        n_train=n["y_train"],
        n_val=n["y_val"],
        n_test=n["y_test"],
        vocab_size=s.vocab_size,
        max_len=s.max_len,
    )
