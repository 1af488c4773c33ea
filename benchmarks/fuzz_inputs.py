"""Fuzz the inputs: bad and odd CLI flags, config.json files, device files, --out targets and
Python API calls, checked against the project's error standard.

    .venv/bin/python benchmarks/fuzz_inputs.py            # everything (about six minutes on 2 cores)
    .venv/bin/python benchmarks/fuzz_inputs.py --quick    # in-process inputs only (no renders, no processes; ~35 s)
    .venv/bin/python benchmarks/fuzz_inputs.py -v         # also print every input and its verdict

The inputs are data: benchmarks/fuzz_cases.yaml (its header says what a case holds); this file only
makes each case's files, runs it and checks the result. tests/test_fuzz.py adds generated inputs.

The contract (issue 8):
  * bad input: exactly ONE line on stderr, ``roofline: error: <field>: <problem> [(allowed: ...)]``
    naming the field, exit status 2, and nothing written or left behind (the temporary folder the
    input runs in is listed before and after: no new or changed file, no ``*.tmp``, no
    ``.roofline-render-*``, no empty folder);
  * never a traceback: no "Traceback" on stderr, exit status only 0 or 2, no exception escaping
    ``main`` (the Python API may raise only ``RooflineInputError``);
  * accepted input (exit 0): its outputs (the CSV or text table, the report's HTML and CSV, the
    API's results) hold no NaN, no inf and no negative number.

Most inputs run in-process through ``roofline_utils.cli.main(argv)``, each in a fresh temporary
folder as the working directory; about ten run through the installed ``roofline`` console script
to check the real process (exit status, broken pipe, a full disk). Exit status: 0 when every
check holds, 1 otherwise (each failing input is listed on one line: the input, what went wrong).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from contextlib import redirect_stderr, redirect_stdout
import dataclasses
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

import roofline_utils as rl
from roofline_utils import RooflineInputError
from roofline_utils.cli import main

GROUPS = ("flags", "config", "device", "out", "api")
GROUP_TITLES = {"flags": "flags", "config": "config files", "device": "device files", "out": "out targets",
                "api": "python api"}
ERROR_LINE = re.compile(r"roofline: error: (?P<field>[^\s:][^\s]*?): (?P<problem>\S.*)")
ROOFLINE = Path(sys.executable).with_name("roofline")
CASES = Path(__file__).resolve().with_name("fuzz_cases.yaml")


@dataclass
class Case:
    group: str                       # one of GROUPS: which count it adds to
    label: str                       # the input as a developer would type it
    argv: list[str] | None = None    # CLI arguments ("{tmp}" becomes the temporary folder)
    expect: str = "error"            # "error" (exit 2), "ok" (exit 0) or "either"
    field: tuple[str, ...] = ()      # the field(s) an error must name ("" prefix/suffix dashes ignored)
    files: dict = dataclasses.field(default_factory=dict)   # relative path -> content, as in fuzz_cases.yaml
    outputs: tuple[str, ...] = ()    # relative paths an accepted run may create or replace
    call: str | None = None          # Python API: one expression (tmp: the temporary folder)
    process: str | None = None       # run as a real process: "argv", "closed-pipe", "dev-full", "shell"
    shell: str | None = None         # for process="shell": a bash command line ("roofline" is the script)
    help: bool = False               # --help / --version: SystemExit(0) is the expected way out
    quick: bool = True               # False: a real process or a render, left out of --quick


@dataclass
class Result:
    code: int | None = None
    stdout: str = ""
    stderr: str = ""
    escaped: str | None = None       # the last line of an exception that escaped
    value: object = None             # the Python API's result


# --------------------------------------------------------------------------- inputs

def _runs(runs: list) -> str:
    """A long repeated text: [[text, count], ...] joined."""
    return "".join(text * count for text, count in runs)


def _yaml(record: dict) -> str:
    """A device file as a user writes one: flat keys, one level of nesting, strings JSON-quoted."""
    lines = []
    for key, value in record.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {v}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {json.dumps(value) if isinstance(value, str) else value}")
    return "\n".join(lines) + "\n"


def _content(value, bases: dict):
    """A files entry of fuzz_cases.yaml as what setup() writes: str, bytes, a marker dict or None."""
    if value is None or isinstance(value, str):
        return value
    if "runs" in value:
        return _runs(value["runs"])
    if "random_bytes" in value:
        return os.urandom(value["random_bytes"])
    if "json" in value:
        return json.dumps(value["json"])
    if "from" in value:
        record = json.loads(json.dumps(bases[value["from"]]))  # a deep copy, in the base's key order
        for key in value.get("without", ()):
            record.pop(key, None)
        record.update(value.get("with", {}))
        return _yaml(record) if value.get("format") == "yaml" else json.dumps(record)
    return value  # {dir: true}, {fifo: true}, {char_device: true}, {symlink: target}


def _label(entry: dict) -> str:
    if "label" in entry:
        return entry["label"]
    shown = entry["call"] if "call" in entry else " ".join(
        shlex.quote(a) if len(a) < 60 else f"<{len(a)} characters>" for a in entry["argv"])
    return shown + (f" ({entry['note']})" if "note" in entry else "")


def load_data(path: Path = CASES) -> dict:
    """The case file as parsed YAML (libyaml's parser where present: ten times the pure-Python one's speed)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_cases(path: Path = CASES) -> list[Case]:
    data = load_data(path)
    bases = data.pop("bases")
    cases = []
    for group, entries in data.items():
        for entry in entries:
            if "argv" in entry:
                entry["argv"] = [a if isinstance(a, str) else _runs(a["runs"]) for a in entry["argv"]]
            cases.append(Case(group, ("[process] " if "process" in entry else "") + _label(entry),
                              argv=entry.get("argv"), expect=entry.get("expect", "error"),
                              field=tuple(entry.get("field", ())),
                              files={rel: _content(v, bases) for rel, v in entry.get("files", {}).items()},
                              outputs=tuple(entry.get("outputs", ())), call=entry.get("call"),
                              process=entry.get("process"), shell=entry.get("shell"), help=entry.get("help", False),
                              quick=entry.get("quick", True)))
    return cases


def api_namespace(tmp: Path) -> dict:
    """What a case's call may name: the package's public names, numpy, Path, nan, inf and the case folder."""
    names = {name: getattr(rl, name) for name in dir(rl) if not name.startswith("_")}
    return {"__builtins__": {}, **names, "end_to_end": rl.e2e.end_to_end, "np": np, "Path": Path,
            "nan": float("nan"), "inf": float("inf"), "str": str, "tmp": tmp}


# --------------------------------------------------------------------------- running

def setup(tmp: Path, files: dict) -> list[str]:
    """Create the case's files; returns notes for what could not be made (mknod refused)."""
    notes = []
    for rel, content in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            continue
        if isinstance(content, dict) and "dir" in content:
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(content, dict) and "fifo" in content:
            os.mkfifo(path)
        elif isinstance(content, dict) and "char_device" in content:
            try:
                os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
            except (PermissionError, OSError) as exc:
                notes.append(f"mknod not permitted ({exc.strerror}): skipped")
        elif isinstance(content, dict) and "symlink" in content:
            os.symlink(content["symlink"], path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return notes


def listing(root: Path) -> dict[str, tuple]:
    """Every path under root (not following links): kind, size, mtime and, for files, the contents' hash."""
    import hashlib

    entries = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder) / name
            info = os.lstat(path)
            kind = stat.S_IFMT(info.st_mode)
            digest = None
            if stat.S_ISREG(info.st_mode) and info.st_size < 1 << 20:
                digest = hashlib.sha1(path.read_bytes()).hexdigest()
            entries[str(path.relative_to(root))] = (kind, info.st_size, info.st_mtime_ns, digest)
    return entries


def run_in_process(case: Case, tmp: Path) -> Result:
    argv = [a.replace("{tmp}", str(tmp)) for a in case.argv]
    out, err = io.StringIO(), io.StringIO()
    result = Result()
    with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a numpy overflow is shown every time, not once per place
        warnings.simplefilter("ignore", ResourceWarning)  # hidden from users by default: not our business
        try:
            result.code = main(argv)
        except SystemExit as exit_:
            if case.help:
                result.code = exit_.code if isinstance(exit_.code, int) else 1
            else:
                result.escaped = f"SystemExit({exit_.code!r}) escaped main"
        except BaseException as exc:  # noqa: BLE001 - anything escaping main is a traceback
            result.escaped = _last_line(exc)
    result.stdout, result.stderr = out.getvalue(), err.getvalue() + _shown(caught)
    return result


def _shown(caught: list) -> str:
    """Warnings as a user's terminal would show them (recorded, so that pytest cannot swallow them)."""
    return "".join(f"{Path(w.filename).name}:{w.lineno}: {w.category.__name__}: {w.message}\n" for w in caught)


def run_api(case: Case, tmp: Path) -> Result:
    result = Result()
    err = io.StringIO()
    with redirect_stderr(err), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            result.value = eval(case.call, api_namespace(tmp))  # noqa: S307 - the project's own case file
            result.code = 0
        except RooflineInputError as exc:
            result.code = 2
            result.stderr = f"roofline: error: {exc}\n"
        except BaseException as exc:  # noqa: BLE001
            result.escaped = _last_line(exc)
    if "Warning" in err.getvalue() + _shown(caught):
        result.stderr += err.getvalue() + _shown(caught)
    return result


def run_process(case: Case, tmp: Path) -> Result:
    env = {**os.environ, "PATH": f"{ROOFLINE.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONWARNINGS": "always::RuntimeWarning"}
    command = [str(ROOFLINE), *case.argv] if case.argv is not None else None
    result = Result()
    try:
        if case.process == "closed-pipe":
            proc = subprocess.Popen(command, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            proc.stdout.close()  # the reader is gone before the first write: EPIPE
            result.stderr = proc.stderr.read().decode(errors="replace")
            result.code = proc.wait(timeout=120)
        elif case.process == "dev-full":
            with open("/dev/full", "w") as full:
                done = subprocess.run(command, cwd=tmp, stdout=full, stderr=subprocess.PIPE, env=env, timeout=120)
            result.code, result.stderr = done.returncode, done.stderr.decode(errors="replace")
        elif case.process == "shell":
            done = subprocess.run(["bash", "-c", case.shell], cwd=tmp, capture_output=True, env=env, timeout=120)
            result.code, result.stdout = done.returncode, done.stdout.decode(errors="replace")
            result.stderr = done.stderr.decode(errors="replace")
        else:
            done = subprocess.run(command, cwd=tmp, capture_output=True, env=env, timeout=120)
            result.code, result.stdout = done.returncode, done.stdout.decode(errors="replace")
            result.stderr = done.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        result.escaped = "timed out after 120 s"
    if result.code is not None and result.code < 0:
        result.escaped = f"killed by signal {signal.Signals(-result.code).name}"
    return result


def _last_line(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    line = text[-1] if text else type(exc).__name__
    return (line[:300] + "...") if len(line) > 300 else line + at


# --------------------------------------------------------------------------- checking

def bad_numbers(value, name: str = "result", depth: int = 0) -> list[str]:
    """Where ``value`` holds a NaN, an inf or a negative number: 'column: NaN at row ...'."""
    problems = []
    if depth > 4:
        return problems
    if isinstance(value, pd.DataFrame):
        for column in value.columns:
            series = value[column]
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                continue
            numbers = series.to_numpy(dtype=float)
            for what, mask in (("NaN", np.isnan(numbers)), ("inf", np.isinf(numbers)),
                               ("negative", numbers < 0)):
                if mask.any():
                    row = value[mask].iloc[0]
                    where = " ".join(str(row[c]) for c in ("phase", "operator") if c in value.columns)
                    problems.append(f"column {column}: {what} in {int(mask.sum())} row(s), first {where} = "
                                    f"{numbers[mask][0]}".rstrip())
        return problems
    if isinstance(value, (bool, np.bool_, str, bytes, type(None))):
        return problems
    if isinstance(value, (int, float, np.number, np.ndarray)):
        try:
            numbers = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return problems
        for what, mask in (("NaN", np.isnan(numbers)), ("inf", np.isinf(numbers)), ("negative", numbers < 0)):
            if np.any(mask):
                problems.append(f"{name}: {what} ({value if numbers.ndim == 0 else numbers[mask][:3]})")
        return problems
    if isinstance(value, dict) or hasattr(value, "items"):
        for key, item in value.items():
            problems += bad_numbers(item, f"{name}.{key}", depth + 1)
        return problems
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problems += bad_numbers(item, f"{name}[{index}]", depth + 1)
        return problems
    if is_dataclass(value):
        for f in fields(value):
            problems += bad_numbers(getattr(value, f.name), f"{type(value).__name__}.{f.name}", depth + 1)
        for attr, member in vars(type(value)).items():  # derived figures: total_s, tokens_per_s_per_user, ...
            if isinstance(member, property) and not attr.startswith("_"):
                try:
                    problems += bad_numbers(getattr(value, attr), f"{type(value).__name__}.{attr}", depth + 1)
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"{type(value).__name__}.{attr} raised {_last_line(exc)}")
    return problems


def bad_text_numbers(text: str) -> list[str]:
    """NaN, inf or negative numbers in a whitespace-separated text table."""
    found = re.findall(r"(?<![\w.-])(-?(?:nan|inf|NaN|Inf|INF)|-\d[\d.e+-]*)(?![\w])", text)
    return [f"text output has {token!r}" for token in sorted(set(found))[:5]]


def check_outputs(case: Case, tmp: Path, result: Result) -> list[str]:
    """NaN/inf/negative numbers in what an accepted run produced."""
    argv = case.argv or []
    if not argv or argv[0] not in ("table", "render") or case.help:
        return []
    if argv[0] == "table":
        target = argv[argv.index("--out") + 1] if "--out" in argv else "-"
        text = result.stdout if target == "-" else (tmp / target).read_text() if (tmp / target).is_file() else ""
        if case.process == "closed-pipe":
            return []
        if not text.strip():
            return [f"accepted but wrote no table to {target!r}"]
        if "--format" in argv and argv[argv.index("--format") + 1] == "text":
            return bad_text_numbers(text)
        try:
            return bad_numbers(pd.read_csv(io.StringIO(text)))
        except Exception as exc:  # noqa: BLE001
            return [f"output is not a readable CSV: {_last_line(exc)}"]
    folder = tmp / argv[argv.index("--out") + 1]
    htmls, csvs = list(folder.glob("*.html")), list(folder.glob("*_operators.csv"))
    if len(htmls) != 1 or len(csvs) != 1:
        return [f"render wrote {sorted(p.name for p in folder.iterdir()) if folder.is_dir() else 'nothing'}"]
    problems = bad_numbers(pd.read_csv(csvs[0]))
    html = htmls[0].read_text(encoding="utf-8")
    for cell in re.findall(r"<td[^>]*>(.*?)</td>", html, flags=re.S):
        text = re.sub(r"<[^>]+>", "", cell).strip()
        if re.search(r"(?<![\w])(nan|inf|-inf|infinity)(?![\w])", text, flags=re.I):
            problems.append(f"HTML table cell {text[:60]!r}")
    return problems


def leftovers(before: dict, after: dict, allowed: tuple[str, ...], accepted: bool) -> list[str]:
    problems = []
    for rel in sorted(set(after) - set(before)):
        name = Path(rel).name
        if name.endswith(".tmp") or name.startswith(".roofline-render-"):
            problems.append(f"left {rel}")
        elif not (accepted and (rel in allowed or any(rel.startswith(a.rstrip("/") + "/") for a in allowed))):
            problems.append(f"created {rel}" + ("/ (empty folder)" if after[rel][0] == stat.S_IFDIR else ""))
    for rel in sorted(set(before) - set(after)):
        problems.append(f"removed {rel}")
    for rel in sorted(set(before) & set(after)):
        if before[rel][::3] != after[rel][::3] or before[rel][1] != after[rel][1]:
            if not (accepted and rel in allowed) and before[rel][0] != stat.S_IFDIR:
                problems.append(f"changed {rel}")
    return problems


def _norm(field_name: str) -> str:
    return field_name.strip("-").replace("-", "_").lower()


_FLAG_CHOICES: dict[str, set[str]] = {}


def _allowed_but_refused(field_name: str, line: str) -> list[str]:
    """The values an error's '(allowed: ...)' lists that the field's CLI flag, one with fixed choices, refuses
    ('allowed: fp32' for --compute-precision, whose choices have no fp32, sends the user to another error)."""
    if not _FLAG_CHOICES:
        from roofline_utils.cli import build_parser

        commands = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
        for sub in (commands[0].choices.values() if commands else ()):
            for action in sub._actions:
                if action.choices and action.dest not in ("help", "what"):
                    _FLAG_CHOICES.setdefault(action.dest, set()).update(str(c) for c in action.choices)
    choices = _FLAG_CHOICES.get(_norm(field_name))
    allowed = re.search(r"\(allowed: ([^()]*)\)$", line)
    if not choices or not allowed:
        return []
    return [value for value in allowed[1].split(", ") if value not in choices]


def check(case: Case, result: Result, tmp: Path, before: dict, after: dict) -> list[tuple[str, str]]:
    """(cause, detail) for every broken rule; cause is traceback | leftover | numbers | contract."""
    found = []
    if result.escaped:
        found.append(("traceback", result.escaped))
    if "Traceback" in result.stderr:
        last = [line for line in result.stderr.strip().splitlines() if line.strip()][-1]
        found.append(("traceback", f"Traceback on stderr: {last.strip()[:200]}"))
    if result.code not in (0, 2, None):
        found.append(("traceback", f"exit status {result.code} (only 0 or 2 allowed): {_first(result.stderr)}"))
    if result.escaped or result.code is None:
        return found + [("leftover", p) for p in leftovers(before, after, (), False)]
    lines = [line for line in result.stderr.splitlines() if not line.startswith("roofline: note:")]
    if case.call is not None:
        lines = [line for line in lines if "Warning" not in line]
        warned = [line for line in result.stderr.splitlines() if "Warning" in line]
        if warned:
            found.append(("numbers", f"numpy warning: {warned[0].strip()[:160]}"))
    if result.code == 2:
        if case.expect == "ok":
            found.append(("contract", f"rejected valid input: {_first(result.stderr)}"))
        if len(lines) != 1:
            found.append(("contract", f"{len(lines)} stderr lines, want 1: {' | '.join(lines)[:240]!r}"))
        match = ERROR_LINE.fullmatch(lines[0]) if lines else None
        if lines and not match:
            found.append(("contract", f"stderr is not 'roofline: error: <field>: <problem>': {lines[0][:200]!r}"))
        elif match and case.field and _norm(match["field"]) not in {_norm(f) for f in case.field}:
            found.append(("contract", f"names field {match['field']!r}, want {' or '.join(case.field)}: "
                                      f"{lines[0][:200]!r}"))
        if match and case.argv is not None:  # what it calls allowed, the flag must accept
            refused = _allowed_but_refused(match["field"], lines[0])
            if refused:
                flag = "--" + _norm(match["field"]).replace("_", "-")
                found.append(("contract", f"allows {', '.join(refused)}, which {flag} refuses: {lines[0][:200]!r}"))
    elif result.code == 0:
        if case.expect == "error":
            found.append(("contract", "accepted bad input (exit 0)"))
        stray = [line for line in lines if "Warning" in line or "rror" in line]
        if stray:
            found.append(("numbers" if "Warning" in stray[0] else "contract",
                          f"stderr on success: {stray[0].strip()[:200]}"))
        found += [("numbers", p) for p in (bad_numbers(result.value) if case.call is not None
                                           else check_outputs(case, tmp, result))]
        if case.process in ("closed-pipe", "shell") and result.stderr.strip():
            found.append(("contract", f"broken pipe not silent: {_first(result.stderr)}"))
    found += [("leftover", p) for p in leftovers(before, after, case.outputs, result.code == 0)]
    return found


def _first(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if any("Traceback" in line for line in lines) else lines[0])[:200] if lines else "(no stderr)"


def run_case(case: Case, base: Path) -> tuple[Result, list[tuple[str, str]], list[str]]:
    tmp = Path(tempfile.mkdtemp(prefix="case-", dir=base))
    notes = setup(tmp, case.files)
    before = listing(tmp)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        if case.process:
            result = run_process(case, tmp)
        elif case.call is not None:
            result = run_api(case, tmp)
        else:
            result = run_in_process(case, tmp)
    finally:
        os.chdir(cwd)
    after = listing(tmp)
    problems = check(case, result, tmp, before, after)
    return result, problems, notes


def all_cases(quick: bool) -> list[Case]:
    return [case for case in load_cases() if case.quick or not quick]


def main_fuzz(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="in-process inputs only: no processes, no renders")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every input and its verdict")
    parser.add_argument("--only", default="", help="run only inputs whose label contains this text")
    args = parser.parse_args(argv)

    cases = [c for c in all_cases(args.quick) if args.only in c.label]
    started = time.perf_counter()
    failures: dict[str, list[str]] = {"traceback": [], "leftover": [], "numbers": [], "contract": []}
    skipped = []
    base = Path(tempfile.mkdtemp(prefix="roofline-fuzz-"))
    outside = {folder: set(os.listdir(folder)) for folder in {os.getcwd(), tempfile.gettempdir()}}
    try:
        for case in cases:
            result, problems, notes = run_case(case, base)
            if notes:
                skipped.append(f"[{case.group}] {case.label}: {'; '.join(notes)}")
            for cause, detail in problems:
                failures[cause].append(f"[{case.group}] {case.label}: {detail}")
            if args.verbose:
                verdict = "; ".join(f"{c}: {d}" for c, d in problems) or "ok"
                print(f"  exit {result.code}  [{case.group}] {case.label} -> {verdict}", file=sys.stderr)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for folder, names in outside.items():  # nothing may land beside the temporary folders either
        for name in sorted(set(os.listdir(folder)) - names - {base.name}):
            if folder == os.getcwd() or name.endswith(".tmp") or name.startswith(".roofline-render-"):
                failures["leftover"].append(f"[all] created {os.path.join(folder, name)} outside the case folders")

    counts = {g: sum(c.group == g for c in cases) for g in GROUPS}
    print(f"inputs tried: {len(cases)} (" + ", ".join(f"{GROUP_TITLES[g]} {counts[g]}" for g in GROUPS) +
          f") in {time.perf_counter() - started:.1f} s")
    for cause, title in (("traceback", "tracebacks"), ("leftover", "files left behind"),
                         ("numbers", "NaN/inf/negative numbers in accepted outputs"),
                         ("contract", "error-contract breaks (message form, field, verdict)")):
        print(f"{title}: {len(failures[cause])}")
        for line in failures[cause]:
            print(f"  {line}")
    for line in skipped:
        print(f"skipped: {line}")
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main_fuzz())
