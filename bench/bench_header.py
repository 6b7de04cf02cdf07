"""The facts every results file in bench/results starts with: when it was made, from which
commit, on which machine. One place, so the tables cannot drift apart in what they record."""
import platform
import subprocess
from datetime import datetime, timezone


def run_text(args):
    """stdout of a command, stripped; "?" when it cannot run (no git, not a checkout)."""
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "?"


def date_text():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def commit_text(commit=None):
    """The short commit, marked when the code has uncommitted changes. The results folder is
    being written while the table is made, so changes there do not count. `commit` names the
    commit a binary was built from when that was recorded earlier (the code may have moved on)."""
    if commit:
        return commit
    dirty = run_text(["git", "status", "--porcelain", "--", ".", ":!bench/results"]) not in ("", "?")
    return run_text(["git", "rev-parse", "--short", "HEAD"]) + (" (with uncommitted changes)" if dirty else "")


def cpu_description():
    """(model name, logical cores, the vector-instruction flags that matter for our kernels)."""
    model, flags, cores = "?", set(), 0
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            cores += line.startswith("processor")
    vector = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                          "amx_tile", "amx_bf16") if f in flags]
    return model, cores, vector


def machine_text(with_vector_flags=False):
    model, cores, vector = cpu_description()
    text = f"{model}, {cores} logical cores, {platform.system()} {platform.release()}"
    if with_vector_flags:
        text += f"; vector flags: {', '.join(vector) or 'none of avx2/avx512'}"
    return text
