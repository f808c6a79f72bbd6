import gc
import weakref

from core.gc import cyclic_gc_paused


class Node:
    def __init__(self):
        self.partner = self  # a cycle: only the cyclic collector frees it


def test_the_block_runs_without_collections_and_its_cycles_are_freed_at_its_end():
    with cyclic_gc_paused():
        assert not gc.isenabled()
        made = weakref.ref(Node())  # dropped at once, yet kept alive by its own cycle
        assert made() is not None
    assert gc.isenabled()
    assert made() is None


def test_a_collector_turned_off_by_the_caller_stays_off():
    gc.disable()
    try:
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
