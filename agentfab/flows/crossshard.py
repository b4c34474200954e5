"""The checks that need more than one shard: decontamination, exact and near duplicates across shards and versions.

One pass reads each shard once (only the columns the checks need), in order; a shard whose rows must move is then
read whole and rewritten (rejected first: a crash between the two writes leaves a row in both files, and the
rerun skips ids already rejected), so the pass is idempotent and a killed finalize resumes.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from agentfab.flows import process_memory
from agentfab.flows.quality import SAMPLE_COLUMNS, SampleRow, read_sample, remove_rows, sample_texts
from agentfab.flows.rows import DISTRIBUTED
from agentfab.flows.shard import distributions, subtract_distributions
from agentfab.flows.storage import read_stats, read_table, write_json, write_table
from agentfab.schemas.codes import Reason
from agentfab.schemas.manifest import ShardQuality
from agentfab.validators.contamination import ContaminationIndex
from agentfab.validators.near_index import NearIndex, hash_text

# Rows asked of the duplicate index at a time. A row's near-duplicate candidates (indexed rows sharing one of its
# bands) grow with the index, and the index's check holds them all as Python tuples: asked 5,000 at a time, that peak
# grew with every shard checked, and the driver's pymalloc arenas with it (+0.1 MB a shard of 2,000, 60 shards).
# Each row's verdict depends on the index alone, not on the rows asked with it, so asking fewer at once changes none.
ASK_ROWS = 500
MOVED_BATCH = 256


class SampleTexts:
    """The diversity sample's texts, kept as one small Arrow table per shard until finalize measures them.

    Kept as Python strings, the sample (10,000 rows' request, user turns and assistant messages) is long-lived
    small objects made a few at a time between each check's short-lived ones, which keeps partly used pymalloc
    arenas alive: the driver's pymalloc arenas grew ~0.23 MB per checked shard (100k tasks in shards of 2,000)
    while its live Python objects stayed flat (benchmarks/trace_memory.py). Arrow holds them in a few buffers
    per shard."""

    def __init__(self) -> None:
        self._tables: list[pa.Table] = []

    def extend(self, rows: list[SampleRow]) -> None:
        if rows:
            query, user, assistant = zip(*rows)
            self._tables.append(pa.table({"query": pa.array(query, pa.string()),
                                          "user": pa.array(user, pa.list_(pa.string())),
                                          "assistant": pa.array(assistant, pa.list_(pa.string()))}))

    def __len__(self) -> int:
        return sum(t.num_rows for t in self._tables)

    def rows(self) -> list[SampleRow]:
        """The sampled rows, in the order they were added."""
        out: list[SampleRow] = []
        for t in self._tables:
            out += [(q, tuple(u), tuple(a)) for q, u, a in zip(*(t.column(c).to_pylist() for c in t.column_names))]
        return out


@dataclass
class PassReport:
    moved: Counter[str] = field(default_factory=Counter)
    checked: int = 0
    contaminated: dict[str, Counter[str]] = field(default_factory=dict)  # benchmark -> test -> rows
    sample: SampleTexts = field(default_factory=SampleTexts)  # the texts of the first rows each shard keeps
    examples: list[str] = field(default_factory=list)


def shard_files(out: Path, stem: str) -> dict[str, Path]:
    return {"accepted": out / "shards" / f"{stem}.parquet", "rejected": out / "rejected" / f"{stem}.parquet",
            "stats": out / "stats" / f"{stem}.json"}


class ShardPlace:
    """Where the checks find a shard's files: in the dataset folder itself (a local build). A build to an object
    store keeps only the shards it is working on in its local copy: it fetches a shard before reading it and lets
    it go after (flows/store_build.py)."""

    def fetch(self, out: Path, stem: str) -> None:
        """Make the shard's files readable at `shard_files(out, stem)`."""

    def release(self, out: Path, stem: str, rewritten: bool) -> None:
        """Nothing reads the shard's files again in this build; `rewritten`: its rows moved (its files changed)."""

    @contextmanager
    def reading(self, out: Path, stem: str) -> Iterator[None]:
        """The shard's files present while the block only reads them."""
        self.fetch(out, stem)
        try:
            yield
        finally:
            self.release(out, stem, False)

    def sample(self, out: Path, stem: str, rows: int) -> list[SampleRow]:
        """The diversity sample's texts of the shard's first `rows` accepted rows (a shard of an earlier version)."""
        with self.reading(out, stem):
            return read_sample(shard_files(out, stem)["accepted"], rows)


def row_features(plan: list[dict[str, Any]], query: str) -> np.ndarray:
    """The near-duplicate features: the planned calls, or for a call-free task its request's words."""
    if plan:
        feats = {f"{s['tool']}\x00{s['arguments']}" for s in plan}
    else:
        feats = {"w:" + w for w in query.lower().split()}
    return np.array(sorted(hash_text(f) for f in feats), dtype=np.uint64)


def _list_of_structs(column: pa.ChunkedArray, fields: tuple[str, ...]) -> list[list[tuple[Any, ...]]]:
    """A list<struct> column as, per row, a list of tuples of the named fields (only those are made Python)."""
    array = column.combine_chunks()
    offsets = array.offsets.to_numpy()
    flat = array.values.slice(offsets[0], offsets[-1] - offsets[0])  # the rows' values (a slice's start at 0)
    return _by_row(list(zip(*(pc.struct_field(flat, f).to_pylist() for f in fields))), offsets)


def _by_row(values: list[Any], offsets: np.ndarray) -> list[list[Any]]:
    """A list column's flat values (from `offsets[0]` on) cut into its rows by the column's offsets."""
    base = offsets[0]
    return [values[lo - base:hi - base] for lo, hi in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


class ToolKeys:
    """Offered tools as (name, parameters), per row. A shard offers a few hundred distinct tools in ~2,500 places:
    Arrow finds each place's distinct tool (dictionary codes), so only those few are made Python strings, hashed
    and, the first time a build meets them, parsed (kept across shards: a recipe's tools are bounded)."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {}

    def _parse(self, key: tuple[str, str]) -> tuple[str, dict[str, Any] | None]:
        if key not in self._parsed:
            try:
                params = json.loads(key[1])
            except ValueError:
                params = None
            self._parsed[key] = (key[0], params if isinstance(params, dict) else None)
        return self._parsed[key]

    def rows(self, column: pa.ChunkedArray) -> list[list[tuple[str, dict[str, Any] | None]]]:
        """The `tools` column (list<struct<name, parameters, ...>>) as each row's offered (name, parameters)."""
        array = column.combine_chunks()
        offsets = array.offsets.to_numpy()
        flat = array.values.slice(offsets[0], offsets[-1] - offsets[0])
        names = pc.dictionary_encode(pc.struct_field(flat, "name"), null_encoding="encode")
        params = pc.dictionary_encode(pc.struct_field(flat, "parameters"), null_encoding="encode")
        pair = names.indices.to_numpy(zero_copy_only=False).astype(np.int64) * len(params.dictionary) + \
            params.indices.to_numpy(zero_copy_only=False)
        distinct, code = np.unique(pair, return_inverse=True)
        name_of, params_of = names.dictionary.to_pylist(), params.dictionary.to_pylist()
        tools = [self._parse((name_of[p // len(params_of)], params_of[p % len(params_of)])) for p in distinct.tolist()]
        return _by_row([tools[c] for c in code.tolist()], offsets)


def _calls(plan: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for s in plan:
        try:
            args = json.loads(s["arguments"])
        except ValueError:
            args = {}
        out.append((s["tool"], args if isinstance(args, dict) else {}))
    return out


def _content_calls(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An imported row has no plan: its calls, as plan steps, come from its API actions."""
    return [{"tool": e["function"], "arguments": e["kwargs"] or "{}"} for e in content
            if e.get("class_") == "api_action" and e.get("function")]


class ShardChecks:
    """The checks across the shards of one version, run shard by shard in shard order.

    The build hands it each shard as soon as that shard and every earlier one are done, so the checks overlap the
    building of later shards instead of waiting for the last; finalize runs what is left. In shard order against
    one index, the same rows move as in a single pass at the end. (A plain class, not a dataclass: Prefect walks
    dataclass task parameters field by field, and this one holds the whole index.)
    """

    def __init__(self, out: Path, stems: list[str], near: NearIndex | None,
                 contamination: ContaminationIndex | None, status: dict[str, Any], sample_rows: int = 0,
                 place: ShardPlace | None = None):
        self.out, self.stems, self.near, self.contamination = out, stems, near, contamination
        self.place = place or ShardPlace()
        self.status = status  # what the benchmark check says of itself (the manifest's `decontamination`)
        self.sample_rows = sample_rows
        self.report = PassReport()
        self.tool_keys = ToolKeys()  # the build's offered tools, parsed once
        self.done = 0  # stems[:done] are checked

    def run(self, upto: int | None = None) -> PassReport:
        """Check the shards before index `upto` (all of them by default) not checked yet."""
        upto = len(self.stems) if upto is None else upto
        if upto > self.done:
            cross_shard_pass(self.out, self.stems[self.done:upto], near=self.near, contamination=self.contamination,
                             sample_rows=self.sample_rows, report=self.report, place=self.place,
                             tool_keys=self.tool_keys)
            self.done = upto
            process_memory.step_done("checks")
        return self.report


def cross_shard_pass(out: Path, stems: list[str], *, near: NearIndex | None,
                     contamination: ContaminationIndex | None, sample_rows: int = 0,
                     report: PassReport | None = None, place: ShardPlace | None = None,
                     tool_keys: ToolKeys | None = None) -> PassReport:
    """Check the accepted rows of `stems` in order; move the rows that fail into rejected/ with their codes.

    `near` holds the rows of earlier versions (and gains these); None skips duplicate checks. The report (a new
    one, or `report` continued) keeps the first `sample_rows` rows each shard keeps (flows.quality's diversity
    sample), from the same read. `place` fetches each shard before it is read and releases it after; `tool_keys`
    (the caller's, to keep across passes) parses the offered tools.
    """
    report = PassReport() if report is None else report
    place = place or ShardPlace()
    tool_keys = ToolKeys() if tool_keys is None else tool_keys
    for stem in stems:
        files = shard_files(out, stem)
        place.fetch(out, stem)
        table = read_table(files["accepted"])  # read once: the checks and, if rows move, the rewrite
        ids = table.column("id").to_pylist()
        queries = table.column("query").to_pylist()
        gt = table.column("ground_truth")
        plans = [[{"tool": t, "arguments": a} for t, a in steps]
                 for steps in _list_of_structs(pc.struct_field(gt, "plan"), ("tool", "arguments"))]
        turns = [[t for t in u or [] if t] or [q] for u, q in zip(pc.struct_field(gt, "user_turns").to_pylist(),
                                                                 queries)]
        n_calls = table.column("n_calls").to_pylist()
        bare = [i for i, (p, n) in enumerate(zip(plans, n_calls)) if not p and n]  # imported rows have no plan
        if bare:
            content = table.column("content").take(pa.array(bare)).to_pylist()
            for i, c in zip(bare, content):
                plans[i] = _content_calls(c)
        report.checked += len(ids)
        moves: dict[int, tuple[str, str]] = {}
        if contamination is not None:
            tools = tool_keys.rows(table.column("tools"))
            hits = contamination.check_rows([(t, _calls(p), tl) for t, p, tl in zip(turns, plans, tools)])
            for i, hit in enumerate(hits):
                if hit is not None:
                    moves[i] = (Reason.CONTAMINATED, f"{Reason.CONTAMINATED}: {hit.test}: {hit.detail}")
                    report.contaminated.setdefault(hit.benchmark, Counter())[hit.test] += 1
                    if len(report.examples) < 5:
                        report.examples.append(f"{ids[i]}: {hit.detail}")
        if near is not None:
            keep = [i for i in range(len(ids)) if i not in moves]
            keys_hex = pc.struct_field(table.column("verification"), "dedup_key").to_pylist()
            keys = np.array([int(keys_hex[i][:16] or "0", 16) for i in keep], dtype=np.uint64)
            feats = [row_features(plans[i], queries[i]) for i in keep]
            kept_keys, kept_feats = [], []
            verdicts = [v for lo in range(0, len(keys), ASK_ROWS)
                        for v in near.check(keys[lo:lo + ASK_ROWS], feats[lo:lo + ASK_ROWS])]
            for j, verdict in enumerate(verdicts):
                i = keep[j]
                if verdict is None:
                    kept_keys.append(keys[j])
                    kept_feats.append(feats[j])
                elif verdict[0] == "exact":
                    moves[i] = (Reason.EXACT_DUPLICATE, "dedup.exact_duplicate: an earlier shard or version "
                                                         "accepted the same row")
                else:
                    moves[i] = (Reason.NEAR_DUPLICATE, f"dedup.near_duplicate: Jaccard {verdict[2]:.2f} with a row "
                                                        "of an earlier shard or version")
            near.add(np.array(kept_keys, dtype=np.uint64), kept_feats)
        if sample_rows:
            first = [i for i in range(len(ids)) if i not in moves][:sample_rows]
            report.sample.extend(sample_texts(table.select(SAMPLE_COLUMNS).take(pa.array(first, pa.int64()))))
        if moves:
            move_rows(files, {ids[i]: m for i, m in moves.items()}, table)
            report.moved.update(code for code, _ in moves.values())
        place.release(out, stem, bool(moves))
    return report


# what the stats of a shard need of the rows moved out of it (distributions, quality figures): not `tools`
_STATS_COLUMNS = ["domain", "kind", "depth", "width", "n_turns", "n_calls", "tools_used", "content", "ground_truth",
                  "tools"]


def move_rows(files: dict[str, Path], moves: dict[str, tuple[str, str]], accepted: pa.Table | None = None) -> None:
    """Move the accepted rows named in `moves` (id -> (code, detail)) to rejected/, and update the shard's stats.
    `accepted`: the shard's accepted table when the caller has read it already.

    Each file is read once and written once; the rows move as Arrow data (only their verification is rebuilt), and
    only the columns the stats count are made Python."""
    accepted = read_table(files["accepted"]) if accepted is None else accepted
    rejected = read_table(files["rejected"])
    leaving = pc.is_in(accepted.column("id"), value_set=pa.array(list(moves), pa.string()))
    removed = accepted.filter(leaving)
    moving = removed.filter(pc.invert(pc.is_in(removed.column("id"), value_set=rejected.column("id"))))
    moving = _mark_rejected(moving, moves).cast(rejected.schema)
    written = {"rejected": write_table(files["rejected"], pa.concat_tables([rejected, moving]))}
    kept = accepted.filter(pc.invert(leaving))
    written["accepted"] = write_table(files["accepted"], kept)
    stats = read_stats(files["stats"])
    if stats is None:  # an imported dataset has no per-shard stats: its import.json records the files
        marker = files["accepted"].parent.parent / "import.json"
        record = read_stats(marker)
        if record is not None and "files" in record:
            write_json(marker, {**record, "files": written})
        return
    stats["files"] = written  # the new checksums: resume and validate check the files against them
    codes = Counter(code for code, _ in moves.values())
    stats["rows"] = {"accepted": kept.num_rows, "rejected": rejected.num_rows + moving.num_rows}
    stats["funnel"]["dedup"]["rejected"] += sum(codes.values())
    for code, n in codes.items():
        stats["reasons"][str(code)] = stats["reasons"].get(str(code), 0) + n
    gone = removed.select(_STATS_COLUMNS)
    if "distributions" in stats:  # the manifest counts only rows left on disk
        counted = gone.select([*DISTRIBUTED, "tools_used"])  # not the conversations: only quality reads them
        stats["distributions"] = subtract_distributions(stats["distributions"], distributions(counted.to_pylist()))
    if stats.get("quality") is not None:
        stats["quality"] = remove_rows(ShardQuality.model_validate(stats["quality"]),
                                       _row_dicts(gone)).model_dump(mode="json")
    write_json(files["stats"], stats)


def _row_dicts(table: pa.Table) -> Iterator[dict[str, Any]]:
    """`table`'s rows as Python dicts, made MOVED_BATCH rows at a time. Made all at once, the moved rows (their
    whole conversations) were a check's largest short-lived peak after the benchmark check's, and it grew with the
    rows a shard moves, which grow as the index fills: 2.0 -> 4.0 MB over 20 shards of 2,000."""
    for batch in table.to_batches(max_chunksize=MOVED_BATCH):
        yield from batch.to_pylist()


def _mark_rejected(table: pa.Table, moves: dict[str, tuple[str, str]]) -> pa.Table:
    """`table`'s rows with their verification failed: passed false, and each row's code and detail from `moves`
    appended to its reasons and details."""
    at = table.schema.get_field_index("verification")
    field_ = table.schema.field(at)
    verification = table.column(at).combine_chunks()
    parts = dict(zip((f.name for f in field_.type), verification.flatten()))
    reasons, details = parts["reasons"].to_pylist(), parts["details"].to_pylist()
    for n, row_id in enumerate(table.column("id").to_pylist()):
        code, detail = moves[row_id]
        reasons[n].append(str(code))
        details[n].append(detail)
    types = {f.name: f.type for f in field_.type}
    parts["passed"] = pa.array([False] * table.num_rows, types["passed"])
    parts["reasons"] = pa.array(reasons, types["reasons"])
    parts["details"] = pa.array(details, types["details"])
    marked = pa.StructArray.from_arrays([parts[f.name] for f in field_.type], fields=list(field_.type))
    return table.set_column(at, field_, marked)
