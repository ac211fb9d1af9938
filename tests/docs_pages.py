"""The docs as test_docs.py reads them: the pages, their fenced blocks, and the steps to run.

See tests/test_docs.py for what is collected and how it runs.
"""
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SHELLS = {"bash", "sh", "shell", "console"}
COMMAND_WORDS = ("handgrad", "python", "python3", ".venv/bin/", "make")
QUICKSTART = {"make train", "make test"}
# what a fit shown in the docs is shortened to: one epoch of one training step (64 updates at the
# default updates_per_step), then validation, checkpoints and curves as in a full run
SHORT_FIT = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=1"]
FLOAT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+")
MARKER = re.compile(r"<!--\s*(excerpt|output)\s*:?\s*(.*?)\s*-->")
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")


@dataclass
class Block:
    page: str  # path relative to the repository root
    line: int  # of the opening fence
    language: str
    text: str
    marker: tuple = None  # ("excerpt", path) or ("output", "")

    @property
    def where(self):
        return f"{self.page}:{self.line}"


def pages():
    """README.md, then every Markdown file of the repository it links, in the order of the links."""
    found = ["README.md"]
    for target in LINK.findall((ROOT / "README.md").read_text()):
        path = (ROOT / target).resolve()
        if path.is_file() and path.is_relative_to(ROOT):
            name = str(path.relative_to(ROOT))
            if name not in found:
                found.append(name)
    return found


def blocks(page, text=None):
    """The fenced blocks of a page, with the marker comment on the line before each."""
    lines = (text if text is not None else (ROOT / page).read_text()).splitlines()
    found, index, previous = [], 0, None
    while index < len(lines):
        fence = re.match(r"\s*(```+|~~~+)\s*([\w+-]*)", lines[index])
        if not fence:
            if lines[index].strip():
                previous = lines[index]
            index += 1
            continue
        start, close = index, fence.group(1)
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(close):
            index += 1
        body = "\n".join(lines[start + 1:index])
        marker = MARKER.search(previous or "")
        found.append(Block(page, start + 1, fence.group(2).lower(), body + "\n",
                           (marker.group(1), marker.group(2)) if marker else None))
        index += 1
        previous = None
    return found


def command_lines(block):
    """(line number, command line) for each command of a shell block; continuation lines joined."""
    joined, start, commands = "", None, []
    for offset, line in enumerate(block.text.splitlines(), start=1):
        if start is None:
            start = block.line + offset
        joined += line.rstrip().removesuffix("\\") + " " if line.rstrip().endswith("\\") else line
        if line.rstrip().endswith("\\"):
            continue
        command = joined.strip().removeprefix("$ ")
        joined, number, start = "", start, None
        words = [word for word in command.split() if "=" not in word or word.startswith("-")]
        if words and words[0].startswith(COMMAND_WORDS):
            commands.append((number, command))
    return commands


@dataclass
class Step:
    where: str
    shown: str  # the command or block as the docs show it
    request: dict = None  # for docs_runner.py; None when not run
    expected_status: int = 0
    skip: str = ""  # why it is not run
    refused: str = ""  # why it cannot be run as written (a failure)


def has_quick(script):
    return script.is_file() and '"--quick"' in script.read_text()


def plan_command(where, command, skipped=()):
    """The runner request for one shell command line, shortened as the docstring allows."""
    step = Step(where, command)
    if command in skipped:
        step.skip = skipped[command]
        return step
    exits = re.search(r"#.*\bexits (\d+)", command)
    step.expected_status = int(exits.group(1)) if exits else 0
    try:
        words = shlex.split(command, comments=True)
    except ValueError as error:
        step.refused = f"cannot be read as one command: {error}"
        return step
    env = {}
    while words and re.fullmatch(r"[A-Za-z_]\w*=\S*", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if any(word in {"|", "||", "&&", ";", ">", ">>", "<", "&"} for word in words):
        step.refused = "one command per line: the doc test runs no pipes, redirections or lists"
        return step
    program = words[0].removeprefix(".venv/bin/")
    if program == "make":
        if " ".join(words) in QUICKSTART:
            step.skip = "the quickstart's own make target"
        else:
            step.refused = "a make target other than train/test; write the command it runs instead"
        return step
    if program == "handgrad":
        if words[1:2] == ["fit"]:
            words += SHORT_FIT
        step.request = {"kind": "console", "argv": ["handgrad", *words[1:]], "env": env}
        return step
    if program not in {"python", "python3"}:
        step.refused = f"runs {program}, which the doc test does not know"
        return step
    arguments = words[1:]
    if arguments[:1] == ["-c"]:
        step.request = {"kind": "code", "code": arguments[1], "argv": arguments[2:], "env": env}
    elif arguments[:1] == ["-m"]:
        module, rest = arguments[1], arguments[2:]
        if module == "handgrad" and rest[:1] == ["fit"]:
            rest += SHORT_FIT
        script = ROOT / (module.replace(".", "/") + ".py")
        if module.startswith("experiments.") and "--quick" not in rest:
            if not has_quick(script):
                step.refused = f"{module} has no --quick switch for the doc test"
                return step
            rest.append("--quick")
        step.request = {"kind": "module", "argv": [module, *rest], "env": env}
    else:
        script, rest = arguments[0], arguments[1:]
        if script.startswith("experiments/") and "--quick" not in rest:
            if not has_quick(ROOT / script):
                step.refused = f"{script} has no --quick switch for the doc test"
                return step
            rest.append("--quick")
        step.request = {"kind": "script", "argv": [script, *rest], "env": env}
    return step


def plan(skipped):
    """Every step of every page, in order, and the expected output that follows a step."""
    steps, outputs = [], {}  # outputs: index of the step -> the output block shown after it
    for page in pages():
        for block in blocks(page):
            if block.marker and block.marker[0] == "output":
                if not steps:
                    raise AssertionError(f"{block.where}: an output block with no command before it")
                outputs[len(steps) - 1] = block
            elif block.language in {"python", "py"} and not block.marker:
                steps.append(Step(block.where, block.text, {"kind": "code", "code": block.text,
                                                             "name": block.where}))
            elif block.language in SHELLS:
                for number, command in command_lines(block):
                    steps.append(plan_command(f"{page}:{number}", command, skipped))
    return steps, outputs


def normalise(text):
    """Lines without trailing space, runs of spaces as one, and every float as '#'."""
    return [re.sub(r"\s+", " ", FLOAT.sub("#", line)).strip() for line in text.strip("\n").splitlines()]


def matches_output(shown, printed):
    """Whether the printed text is the shown one, apart from floats; a shown '...' line stands for any lines."""
    pattern = ""
    for line in normalise(shown):
        pattern += r"(?:[^\n]*\n)*?" if line.startswith("...") else re.escape(line) + r"\n"
    return re.fullmatch(pattern, "\n".join(normalise(printed)) + "\n") is not None


def excerpt_errors(block):
    """The lines of an excerpt that its file does not have."""
    path = ROOT / block.marker[1]
    if not path.is_file():
        return [f"{block.where}: excerpt of {block.marker[1]}, which does not exist"]
    source = path.read_text()
    return [f"{block.where}: excerpt line not in {block.marker[1]}: {line.strip()}"
            for line in block.text.splitlines() if line.strip() and line.strip() != "..." and line.strip() not in source]


def all_blocks():
    return [block for page in pages() for block in blocks(page)]


def slug(heading):
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
