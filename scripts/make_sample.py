"""Build the bundled IMDB sample, ``engine/sample/imdb_sample.tar.xz``.

The sample is a balanced, seeded selection of real reviews from the Large Movie Review Dataset
(Maas et al., ACL 2011, https://ai.stanford.edu/~amaas/data/sentiment/), kept in the aclImdb
layout (``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` plus the dataset's README) so that
``engine.data`` reads it with the same tar reader as the full archive. It is what ``--data auto``
falls back to on a machine without the Keras cache or network, and what the fast tests use.

Re-run from the repository root (deterministic: same input -> byte-identical output)::

    .venv/bin/python scripts/make_sample.py [ARCHIVE] [--train-per-label N] [--test-per-label N]

ARCHIVE defaults to ``../shared/data/aclImdb_labeled.tar.gz`` relative to the repository root
(the labeled part of the public ``aclImdb_v1.tar.gz`` works too). The script refuses to write a
sample larger than ``--max-bytes`` (3 MB).
"""

from __future__ import annotations

import argparse
import io
import lzma
import random
import re
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ARCHIVE = REPO / ".." / "shared" / "data" / "aclImdb_labeled.tar.gz"
OUT = REPO / "engine" / "sample" / "imdb_sample.tar.xz"
MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/([^/]+\.txt)$")


def read_groups(archive: Path) -> tuple[dict[str, dict[str, bytes]], bytes | None]:
    """{"train/pos": {file name: bytes}, ...} and the dataset README, streamed from the tar."""
    groups: dict[str, dict[str, bytes]] = {}
    readme = None
    with tarfile.open(archive, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            m = MEMBER.search(member.name)
            if m is not None:
                groups.setdefault(f"{m.group(1)}/{m.group(2)}", {})[m.group(3)] = fh.read()
            elif member.name.rstrip("/").endswith("aclImdb/README"):
                readme = fh.read()
    return groups, readme


def choose(groups: dict[str, dict[str, bytes]], n_train: int, n_test: int, seed: int):
    """Seeded, balanced choice: n per label and split, independent of the archive's order."""
    rng = random.Random(seed)
    chosen: dict[str, list[str]] = {}
    for group in ("train/pos", "train/neg", "test/pos", "test/neg"):
        names = sorted(groups.get(group, {}))
        k = n_train if group.startswith("train") else n_test
        if len(names) < k:
            raise SystemExit(f"{group}: only {len(names)} reviews, {k} wanted")
        chosen[group] = sorted(rng.sample(names, k))
    return chosen


def write_sample(groups, chosen, readme: bytes | None, out: Path) -> int:
    """Write a reproducible tar.xz (fixed mtimes/owners); returns its size in bytes."""

    def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        if readme is not None:
            add(tar, "aclImdb/README", readme)
        for group, names in chosen.items():
            for name in names:
                add(tar, f"aclImdb/{group}/{name}", groups[group][name])
    data = lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive", nargs="?", type=Path, default=DEFAULT_ARCHIVE)
    ap.add_argument("--train-per-label", type=int, default=2_250)
    ap.add_argument("--test-per-label", type=int, default=750)
    ap.add_argument("--seed", type=int, default=20_111)
    ap.add_argument("--max-bytes", type=int, default=3_000_000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    if not args.archive.is_file():
        print(f"no archive at {args.archive}", file=sys.stderr)
        return 2
    groups, readme = read_groups(args.archive)
    chosen = choose(groups, args.train_per_label, args.test_per_label, args.seed)
    size = write_sample(groups, chosen, readme, args.out)
    n = sum(len(v) for v in chosen.values())
    print(
        f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}: "
        f"{n} reviews, {size:,} bytes"
    )
    if size > args.max_bytes:
        args.out.unlink()
        print(f"too big (> {args.max_bytes:,} bytes): removed; use fewer reviews", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
