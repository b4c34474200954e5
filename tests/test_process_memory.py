import ctypes
import json

import pytest

from agentfab.flows import process_memory


@pytest.mark.skipif(process_memory.glibc_heap() is None, reason="needs glibc >= 2.33")
def test_glibc_in_use_counts_a_malloc_until_it_is_freed():
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    before = process_memory.glibc_heap()[0]
    block = libc.malloc(64 * 2**20)
    during = process_memory.glibc_heap()[0]
    libc.free(block)
    after = process_memory.glibc_heap()[0]
    assert during - before >= 63 * 2**20
    assert during - after >= 63 * 2**20  # negative control: freed, it is no longer counted


def test_figures_name_each_allocator_and_add_up_below_the_rss():
    import pyarrow  # noqa: F401 - the Arrow pool is reported once Arrow is loaded

    f = process_memory.figures()
    assert {"rss", "arrow", "arrow_backend"} <= set(f)
    assert 0 < f.get("pymalloc", 1) < f["rss"]
    assert f.get("glibc_in_use", 0) + f.get("pymalloc", 0) < f["rss"] + f.get("glibc_free", 0)


def test_note_logs_a_line_per_step_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "memory.jsonl"
    monkeypatch.delenv(process_memory.LOG_ENV, raising=False)
    process_memory.note("checks")
    assert not log.exists()  # negative control: without the setting nothing is written
    monkeypatch.setenv(process_memory.LOG_ENV, str(log))
    process_memory.note("checks")
    process_memory.note("checks")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [p["role"] for p in lines] == ["checks", "checks"]
    assert lines[1]["n"] == lines[0]["n"] + 1 and lines[0]["rss"] > 0


@pytest.mark.skipif(not process_memory.mappings(), reason="needs /proc/self/smaps")
def test_a_touched_block_shows_as_anonymous_memory_of_the_mapping_holding_it():
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    size = 64 * 2**20
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)

    def anon_kb_at(address: int) -> int:
        return sum(m[5] for m in process_memory.mappings() if m[0] <= address < m[1])

    assert anon_kb_at(block) >= 63 * 1024
    libc.free(block)
    assert anon_kb_at(block) < 1024  # negative control: freed (an mmapped block), it is gone


def test_note_logs_the_mappings_and_allocator_addresses_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "memory.jsonl"
    monkeypatch.setenv(process_memory.LOG_ENV, str(log))
    monkeypatch.delenv(process_memory.SMAPS_ENV, raising=False)
    process_memory.note("checks")
    monkeypatch.setenv(process_memory.SMAPS_ENV, "1")
    process_memory.note("checks")
    plain, mapped = [json.loads(line) for line in log.read_text().splitlines()]
    assert "maps" not in plain and "probes" not in plain
    assert mapped["maps"] and all(m[5] > 0 for m in mapped["maps"])
    assert mapped["probes"]["pymalloc"]


def test_a_driver_collects_less_often_and_a_shard_inside_keeps_its_own_setting():
    """The build command's driver runs inside `collections_every`; an in-process shard still runs with no
    automatic collection, and each puts back what it found, also when the block fails."""
    import gc

    from agentfab.flows.shard import fewer_collections

    before = gc.get_threshold()
    with process_memory.collections_every(50_000):
        assert gc.get_threshold() == (50_000, *before[1:])
        with fewer_collections(0):  # an offline shard built by the driver itself
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 50_000
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError):
        with process_memory.collections_every(50_000):
            raise RuntimeError("a build failed")
    assert gc.get_threshold() == before  # negative control: the default comes back
