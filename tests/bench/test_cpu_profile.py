"""bench/cpu_profile.py: naming addresses of the stripped temporal binary, and sorting samples."""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import cpu_profile  # bench/ holds scripts, not a package: imported from its directory


def test_addresses_of_the_stripped_temporal_binary_are_named_from_its_pclntab() -> None:
    binary = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    names = cpu_profile.GoSymbols(binary)
    assert len(names.names) > 10_000
    goexit = names.entries[names.names.index("runtime.goexit")]
    assert names.name(goexit + 1) == "runtime.goexit"
    # perf's mapping-relative form of the same address, shifted back
    assert names.name(goexit + 1 - names.base, shift=names.base) == "runtime.goexit"
    assert names.name(0xFFFFFFFF81000000) == "[kernel]"


def test_server_samples_are_sorted_by_grpc_method_queue_and_runtime() -> None:
    history = "go.temporal.io/server/service/history"
    cases = {
        ("runtime.goexit", f"{history}.(*Handler).RecordActivityTaskHeartbeat", "x"): (
            "history.RecordActivityTaskHeartbeat"
        ),
        (
            "runtime.goexit",
            "go.temporal.io/server/api/workflowservice/v1._WorkflowService_StartWorkflowExecution_Handler",
        ): "frontend.StartWorkflowExecution",
        ("runtime.goexit", f"{history}.(*visibilityQueueTaskExecutor).Execute"): "queue visibility",
        ("runtime.goexit", "runtime.gcBgMarkWorker", "runtime.gcDrain"): "go garbage collector",
        ("runtime.mcall", "runtime.park_m"): "go scheduler and stacks",
        ("runtime.goexit", "main.unknown"): "other",
    }
    for frames, category in cases.items():
        assert cpu_profile.server_category(list(frames)) == category, frames


def test_worker_samples_count_rpc_and_database_time_inside_activities_apart() -> None:
    raw = "\n".join(
        [
            "run (a.py:1);WithdrawalActivities.prepare (activities/withdraw.py:1);"
            "Endpoints.call (activities/rpc.py:130) 30",
            "run (a.py:1);WithdrawalActivities.sign (activities/withdraw.py:2);"
            "Pool.execute (asyncpg/pool.py:709) 10",
            "run (a.py:1);_WorkflowWorker._handle_activation (temporalio/worker/_workflow.py:1) 5",
            "run (a.py:1);bare_local (bench/withdrawals_baseline.py:3) 5",
            "run (a.py:1);SolanaSender._flush_statuses (activities/solana/adapters.py:573);"
            "Endpoints.call (activities/rpc.py:130) 5",
            "run (a.py:1);WithdrawalActivities._send_and_confirm (activities/withdraw.py:9) 5",
        ]
    )
    samples: Counter[str] = Counter()
    for frames, count in cpu_profile.pyspy_stacks(raw):
        for category in cpu_profile.worker_categories(frames):
            samples[category] += count
    ms = cpu_profile.per_item(samples, hz=50, items=10)
    assert ms["total"] == 120.0  # 60 samples at 50 Hz over 10 items; "of which" lines excluded
    assert ms["activity prepare"] == 60.0
    assert ms["  of which RPC (client library, HTTP)"] == 60.0
    assert ms["  of which PostgreSQL (asyncpg)"] == 20.0
    assert ms["workflow tasks (sandbox, activations)"] == 10.0
    assert ms["activity bare_local"] == 10.0
    assert ms["RPC shared by activities (batched status reads)"] == 10.0
    assert ms["activity send_and_confirm"] == 10.0  # its private loop counts as the activity
