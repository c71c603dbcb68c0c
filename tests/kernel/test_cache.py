"""Output cache keys and the LRU with its byte budget (engine.md §4.12.1)."""

from __future__ import annotations

import hashlib
import json
import threading

from nodeloom.kernel.cache import OutputCache, cache_key

BASE = dict(
    type_key="Scale",
    pack=("nodeloom", "0.1.0", "d" * 64),
    params={"factor": 2.0, "mode": "fast"},
    inputs=[("value", "k" * 64, "value")],
    device="cpu",
    fingerprint=None,
)


def key(**changes):
    return cache_key(**{**BASE, **changes})


def test_key_is_sha256_of_the_canonical_document():
    document = {
        "v": 1,
        "type": "Scale",
        "pack": ["nodeloom", "0.1.0", "d" * 64],
        "params": {"factor": 2.0, "mode": "fast"},
        "inputs": [["value", "k" * 64, "value"]],
        "device": "cpu",
        "fingerprint": None,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert key() == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_key_ignores_param_and_input_order():
    assert key(params={"mode": "fast", "factor": 2.0}) == key()
    two = [("a", "x", "value"), ("b", "y", "value")]
    assert key(inputs=two) == key(inputs=list(reversed(two)))


def test_every_component_changes_the_key():
    variants = [
        key(type_key="mypack:Scale"),
        key(pack=("nodeloom", "0.1.1", "d" * 64)),
        key(pack=("nodeloom", "0.1.0", "e" * 64)),
        key(params={"factor": 3.0, "mode": "fast"}),
        key(inputs=[("value", "j" * 64, "value")]),
        key(inputs=[("other", "k" * 64, "value")]),  # port names are part of the key
        key(device="cuda:0"),
        key(fingerprint="size=1;mtime=2"),
    ]
    assert len({key(), *variants}) == len(variants) + 1


def test_swapping_inputs_of_the_same_sources_changes_the_key():
    straight = key(inputs=[("a", "k1", "value"), ("b", "k2", "value")])
    swapped = key(inputs=[("a", "k2", "value"), ("b", "k1", "value")])
    assert straight != swapped


def test_non_json_params_make_the_node_ineligible():
    assert key(params={"obj": object()}) is None
    assert key(params={"bad": float("nan")}) is None
    assert key(params={"s": {1, 2}}) is None


def test_lru_evicts_least_recently_used_by_count():
    cache = OutputCache(max_entries=2)
    cache.put("a", {"v": 1})
    cache.put("b", {"v": 2})
    assert cache.get("a") == {"v": 1}  # refreshes a
    cache.put("c", {"v": 3})
    assert "b" not in cache and "a" in cache and "c" in cache
    assert len(cache) == 2


def test_byte_budget_evicts_oldest_and_rejects_oversized_entries():
    cache = OutputCache(max_entries=10, max_bytes=100)
    assert cache.put("a", {"v": 1}, nbytes=60)
    assert cache.put("b", {"v": 2}, nbytes=30)
    assert cache.nbytes == 90
    assert cache.put("c", {"v": 3}, nbytes=40)  # 130 > 100: a goes
    assert "a" not in cache and cache.nbytes == 70
    assert not cache.put("huge", {"v": 0}, nbytes=101)
    assert "huge" not in cache and len(cache) == 2


def test_replacing_a_key_recounts_its_bytes():
    cache = OutputCache(max_bytes=100)
    cache.put("a", {}, nbytes=80)
    cache.put("a", {}, nbytes=10)
    assert cache.nbytes == 10 and len(cache) == 1


def test_get_returns_a_copy_and_counts_hits():
    cache = OutputCache()
    cache.put("k", {"v": 1})
    got = cache.get("k")
    got["v"] = 99
    assert cache.get("k") == {"v": 1}
    assert cache.get("missing") is None
    assert cache.stats()["hits"] == 2 and cache.stats()["misses"] == 1


def test_clear_empties_everything():
    cache = OutputCache()
    cache.put("a", {}, nbytes=5)
    cache.put("b", {}, nbytes=5)
    assert cache.clear() == 2
    assert len(cache) == 0 and cache.nbytes == 0


def test_concurrent_puts_keep_the_bounds():
    cache = OutputCache(max_entries=50, max_bytes=1000)

    def writer(prefix):
        for i in range(300):
            cache.put(f"{prefix}{i}", {"i": i}, nbytes=7)
            cache.get(f"{prefix}{i // 2}")

    threads = [threading.Thread(target=writer, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) <= 50 and cache.nbytes <= 1000
    assert cache.nbytes == 7 * len(cache)
