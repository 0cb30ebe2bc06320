"""The ``palestra`` command.

Each subcommand is thin: it parses options into the command's config dataclass and calls the
pillar that does the work, importing it only then (so ``palestra --help`` stays fast).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from palestra import __version__
from palestra.core.errors import PalestraError

app = typer.Typer(
    name="palestra",
    help="Agents that learn to search where answers can be checked: proofs, SAT "
    "assignments, programs and game scores.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"palestra {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],  # noqa: UP045 (typer needs Optional)
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Agents that learn to search where answers can be checked."""


# --------------------------------------------------------------------------- bench / report
@app.command()
def bench(
    suite: Annotated[Optional[str], typer.Argument(help="Suite to run.")] = None,  # noqa: UP045
    list_: Annotated[bool, typer.Option("--list", help="List the suites and exit.")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small, seeded budget that fits a session.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for samples and runs.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for SUITE.json, SUITE.md, plots.")] = Path(
        "results"
    ),
    option: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--option", "-o", help="A suite option as KEY=VALUE (repeatable)."),
    ] = None,
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="TOML/JSON file of suite options (-o overrides it)."),
    ] = None,
) -> None:
    """Run a bench suite side by side with its peer; write results/SUITE.{json,md}."""
    from palestra.core.bench import run_suite, suite_names

    if list_ or suite is None:
        names = suite_names()
        if not names:
            typer.echo("no bench suites yet")
        width = max((len(n) for n in names), default=0)
        for name, text in names.items():
            typer.echo(f"{name:<{width}}  {text}")
        return
    json_path, md_path = run_suite(
        suite, quick=quick, seed=seed, out_dir=out, options=option or [], config_file=config
    )
    typer.echo(f"wrote {json_path}")
    typer.echo(f"report: {md_path}")


@app.command()
def report(
    path: Annotated[Path, typer.Argument(help="A run directory (runs/NAME/STAMP).")],
) -> None:
    """Render a run's learning curves (PNG) and a Markdown summary."""
    from palestra.core.report import render_run_report

    typer.echo(f"report: {render_run_report(path)}")


data_app = typer.Typer(
    help="Benchmark data sets: where Palestra finds them (an option, $PALESTRA_DATA, "
    "../shared/data beside a checkout).",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command("list")
def data_list() -> None:
    """Every named data set: where it was found, or where to put it, and its source."""
    from palestra.core.data import run_list

    run_list()


@data_app.command("verify")
def data_verify(
    names: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(help="Data sets to check (default: every one found)."),
    ] = None,
) -> None:
    """Check data sets' files against the checksums Palestra records."""
    from palestra.core.data import run_verify

    raise typer.Exit(run_verify(names or []))


def _demo(cfg: object) -> None:
    from palestra.demo import run_demo

    path = run_demo(cfg)  # type: ignore[arg-type]
    typer.echo(f"demo report: {path}")


def _prove(cfg: object) -> None:
    from palestra.prove.run import run_prove

    raise typer.Exit(run_prove(cfg))


def _extract_tactics(cfg: object) -> None:
    import json

    from palestra.coq.extract import extract_tactics

    typer.echo(json.dumps(extract_tactics(cfg)))  # type: ignore[arg-type]


def _prove_coq(cfg: object) -> None:
    import json

    from palestra.coq.agent import prove_coq

    result = prove_coq(cfg)  # type: ignore[arg-type]
    if cfg.json:  # type: ignore[attr-defined]
        typer.echo(json.dumps(result))
    else:
        typer.echo(
            f"{result['status']}: {result.get('theorem', '')} "
            f"({result['checker_calls']} checker calls, {result['seconds']:.1f} s)"
        )
        if result.get("proof"):
            typer.echo(result["proof"])
    raise typer.Exit(0 if result["status"] != "error" else 1)


def _train_rlcop(cfg: object) -> None:
    from palestra.prove.rlcop import train

    typer.echo(f"run: {train(cfg)}")  # type: ignore[arg-type]


def _train_flop(cfg: object) -> None:
    from palestra.prove.flop import train

    typer.echo(f"run: {train(cfg)}")  # type: ignore[arg-type]


def _train_verifier(cfg: object) -> None:
    from palestra.reason.verifier import train_verifier

    typer.echo(f"verifier: {train_verifier(cfg)}")  # type: ignore[arg-type]


def _train_star(cfg: object) -> None:
    from palestra.reason.star import train_star

    typer.echo(f"run: {train_star(cfg)}")  # type: ignore[arg-type]


def _promptbreeder(cfg: object) -> None:
    import json

    from palestra.reason.promptbreeder import run_promptbreeder

    out = run_promptbreeder(cfg)  # type: ignore[arg-type]
    report = json.loads((out / "report.json").read_text())
    typer.echo(
        f"best prompt: {report['best']['prompt']!r}: held-out {report['best']['heldout']:.3f}"
    )
    for name, r in report["extra"].items():
        typer.echo(f"{name} {r['prompt']!r}: held-out {r['heldout']:.3f}")
    typer.echo(f"run: {out}")


def _prove_flop(cfg: object) -> None:
    from palestra.prove.flop import run_prove_flop

    raise typer.Exit(run_prove_flop(cfg))  # type: ignore[arg-type]


def _play_train(cfg: object) -> None:
    from palestra.play.train import train

    typer.echo(f"run: {train(cfg)}")  # type: ignore[arg-type]


def _play_eval(cfg: object) -> None:
    from palestra.play.evaluate import run_eval

    run_eval(cfg)  # type: ignore[arg-type]


def _play_expert(cfg: object) -> None:
    from palestra.play.expert import run_expert_search

    run_expert_search(cfg)  # type: ignore[arg-type]


def _play_simple(cfg: object) -> None:
    from palestra.play.simple import run_simple

    run_simple(cfg)  # type: ignore[arg-type]


def _play_mgdt_data(cfg: object) -> None:
    from palestra.play.mgdt import run_mgdt_data

    run_mgdt_data(cfg)  # type: ignore[arg-type]


def _play_mgdt(cfg: object) -> None:
    from palestra.play.mgdt import run_mgdt

    run_mgdt(cfg)  # type: ignore[arg-type]


def _control_train(cfg: object) -> None:
    from palestra.control.train import train

    typer.echo(f"run: {train(cfg)}")  # type: ignore[arg-type]


def _control_eval(cfg: object) -> None:
    from palestra.control.train import run_eval

    run_eval(cfg)  # type: ignore[arg-type]


def _control_record(cfg: object) -> None:
    from palestra.control.offline import record

    typer.echo(f"dataset: {record(cfg)}")  # type: ignore[arg-type]


def _control_offline(cfg: object) -> None:
    from palestra.control.offline import train_offline

    typer.echo(f"run: {train_offline(cfg)}")  # type: ignore[arg-type]


control_app = typer.Typer(
    help="Continuous control (gymnasium, MuJoCo): train and evaluate SAC, AWR, QWR.",
    no_args_is_help=True,
)
app.add_typer(control_app, name="control")

play_app = typer.Typer(
    help="Atari: train and evaluate agents (screen, RAM or both).", no_args_is_help=True
)
app.add_typer(play_app, name="play")


def _sat_solve(cfg: object) -> None:
    """SAT-competition exit status: 10 SAT, 20 UNSAT, 0 UNKNOWN; bad input reaches main() as
    a DimacsError or OSError (exit 2)."""
    from palestra.sat.cnf import Status
    from palestra.sat.solve import solve

    status = solve(cfg).status  # type: ignore[arg-type]
    raise typer.Exit(
        10 if status is Status.SATISFIABLE else 20 if status is Status.UNSATISFIABLE else 0
    )


def _sat_gen(cfg: object) -> None:
    from palestra.sat.solve import gen

    paths = gen(cfg)  # type: ignore[arg-type]
    typer.echo(f"wrote {len(paths)} formulas")


def _train_sat(cfg: object) -> None:
    from palestra.sat.train import train

    typer.echo(f"model: {train(cfg)}")  # type: ignore[arg-type]


sat_app = typer.Typer(
    help="SAT: solve DIMACS formulas, generate SR(n) pairs.", no_args_is_help=True
)
app.add_typer(sat_app, name="sat")


def _train_lm(cfg: object) -> None:
    from palestra.lm.train import train

    typer.echo(f"run: {train(cfg)}")  # type: ignore[arg-type]


def _lm_attention(cfg: object) -> None:
    from palestra.lm.attention import run_attention

    run_attention(cfg)  # type: ignore[arg-type]


def _eval(cfg: object) -> None:
    from palestra.reason.evaluate import run_eval

    run_eval(cfg)  # type: ignore[arg-type]


def _eval_biases(cfg: object) -> None:
    from palestra.reason.biases import run_biases

    run_biases(cfg)  # type: ignore[arg-type]


def _grade_proofs(cfg: object) -> None:
    from palestra.reason.proofbench import run_grade_proofs

    run_grade_proofs(cfg)  # type: ignore[arg-type]


def _lm_serve(cfg: object) -> None:
    from palestra.lm.server import serve

    serve(cfg)  # type: ignore[arg-type]


lm_app = typer.Typer(
    help="Language models: serve a trained model over HTTP, look at its attention.",
    no_args_is_help=True,
)
app.add_typer(lm_app, name="lm")

train_app = typer.Typer(
    help="Train a model; every run writes runs/NAME/STAMP and resumes with --resume.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")


def _register_config_commands() -> None:
    """Commands whose options are generated from a config dataclass (light imports only)."""
    from palestra.control.config import ControlEvalConfig, ControlTrainConfig
    from palestra.control.offline import ControlOfflineConfig, RecordConfig
    from palestra.coq.config import ExtractConfig, ProveCoqConfig
    from palestra.core.cli_config import add_config_command
    from palestra.demo import DemoConfig
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.serve_config import AttentionConfig, ServeConfig
    from palestra.play.config import (
        MGDTDataConfig,
        MGDTTrainConfig,
        PlayEvalConfig,
        PlayTrainConfig,
        SimpleConfig,
    )
    from palestra.play.expert import ExpertSearchConfig
    from palestra.prove.config import ProveConfig
    from palestra.prove.flop_config import FlopConfig, FlopEvalConfig
    from palestra.prove.rlcop_config import RlcopConfig
    from palestra.reason.evaluate import BiasesConfig, EvalConfig
    from palestra.reason.promptbreeder import PromptbreederConfig
    from palestra.reason.proofbench import GradeProofsConfig
    from palestra.reason.star import StarConfig
    from palestra.reason.verifier import VerifierTrainConfig
    from palestra.sat.config import SatGenConfig, SatSolveConfig, SatTrainConfig

    # (group, name, config dataclass, runner, help; None = the dataclass docstring)
    commands: list[tuple[typer.Typer, str, type, Callable[[Any], None], str | None]] = [
        (app, "prove", ProveConfig, _prove, None),
        (app, "prove-coq", ProveCoqConfig, _prove_coq, None),
        (app, "extract-tactics", ExtractConfig, _extract_tactics, None),
        (app, "demo", DemoConfig, _demo, None),
        (
            app,
            "eval",
            EvalConfig,
            _eval,
            "Sample a model (OpenAI-compatible URL or local:RUN_DIR) on a task's problems, check"
            " every sample, report pass@k and maj@k; --out DIR resumes a killed run;"
            " --program cot|sc|best-of-n|reject|tool|beam|si runs an LM program per sample.",
        ),
        (
            app,
            "eval-biases",
            BiasesConfig,
            _eval_biases,
            "A code task evaluated unmodified and under each bias intervention (function"
            " renamed, keywords, description or examples removed); the pass@1 drop table.",
        ),
        (
            app,
            "promptbreeder",
            PromptbreederConfig,
            _promptbreeder,
            "Promptbreeder: evolve the instruction before each question (task prompts and"
            " mutation prompts, binary tournaments on training batches); held-out report.",
        ),
        (
            app,
            "grade-proofs",
            GradeProofsConfig,
            _grade_proofs,
            "Grade IMO-ProofBench proofs with a model and the published ProofAutoGrader prompt"
            " (default: the reference solutions, a grader's self-check).",
        ),
        (
            sat_app,
            "solve",
            SatSolveConfig,
            _sat_solve,
            "Solve a DIMACS CNF (SAT-competition output or --json); every model is checked."
            " Exit status: 10 SATISFIABLE, 20 UNSATISFIABLE, 0 UNKNOWN, 2 bad input (one line"
            " 'error: ...' on stderr: missing, unreadable or malformed file, bad option).",
        ),
        (sat_app, "gen", SatGenConfig, _sat_gen, "Write SR(n) pairs as DIMACS files."),
        (
            play_app,
            "train",
            PlayTrainConfig,
            _play_train,
            "Train PPO or BA3C on an Atari game from the screen, the RAM, or both.",
        ),
        (
            play_app,
            "eval",
            PlayEvalConfig,
            _play_eval,
            "Evaluate a trained agent (no clipping, full episodes, 30 no-op starts).",
        ),
        (
            play_app,
            "expert",
            ExpertSearchConfig,
            _play_expert,
            "Find an expert trajectory by Go-Explore's exploration (emulator state restores),"
            " replay it to check its score, and save it for BA3C's --expert.",
        ),
        (
            play_app,
            "simple",
            SimpleConfig,
            _play_simple,
            "SimPLe on the RAM: alternate collecting real play, training a world model of the"
            " console's RAM, and PPO inside the model (15 iterations, 100k interactions).",
        ),
        (
            play_app,
            "mgdt-data",
            MGDTDataConfig,
            _play_mgdt_data,
            "Record a game's trajectories from trained agents (and random play) at several"
            " skill levels, for Multi-Game Decision Transformers (memory-mapped frames).",
        ),
        (
            play_app,
            "mgdt",
            MGDTTrainConfig,
            _play_mgdt,
            "Train one Multi-Game Decision Transformer on every game of a data set (or the"
            " behaviour-cloning baseline, --no-returns), then play each game.",
        ),
        (
            control_app,
            "train",
            ControlTrainConfig,
            _control_train,
            "Train SAC, AWR or QWR on a gymnasium env with continuous actions (e.g. Hopper-v5);"
            " --resume continues the newest run exactly.",
        ),
        (
            control_app,
            "record",
            RecordConfig,
            _control_record,
            "Record a Minari dataset (HDF5) from a trained agent or the random policy.",
        ),
        (
            control_app,
            "offline",
            ControlOfflineConfig,
            _control_offline,
            "Train QWR, behaviour cloning or IQL on a Minari dataset (no interaction);"
            " evaluated on the dataset's env; --resume continues exactly.",
        ),
        (
            control_app,
            "eval",
            ControlEvalConfig,
            _control_eval,
            "Deterministic evaluation returns of a trained agent (JSON on stdout).",
        ),
        (
            lm_app,
            "serve",
            ServeConfig,
            _lm_serve,
            "Serve a trained model with an OpenAI-compatible HTTP API (/v1/completions, ...).",
        ),
        (lm_app, "attention", AttentionConfig, _lm_attention, None),
        (
            train_app,
            "lm",
            LMTrainConfig,
            _train_lm,
            "Train a small language model (scratchpad arithmetic, programs, characters).",
        ),
        (
            train_app,
            "verifier",
            VerifierTrainConfig,
            _train_verifier,
            "Train a verifier on a trained model's own right and wrong samples of generated"
            " word problems (use it with eval --program best-of-n --verifier learned:DIR).",
        ),
        (
            train_app,
            "star",
            StarConfig,
            _train_star,
            "STaR: a word-problem model fine-tuned on its own rationales that reach the right"
            " answer (answers only), iterated; accuracy on held-out and training templates.",
        ),
        (
            train_app,
            "sat",
            SatTrainConfig,
            _train_sat,
            "Train the graph-network branching heuristic on SR(n) formulas.",
        ),
        (
            train_app,
            "rlcop",
            RlcopConfig,
            _train_rlcop,
            "rlCoP: expert iteration of MCTS guided by gradient-boosted trees on TPTP problems.",
        ),
        (
            train_app,
            "flop",
            FlopConfig,
            _train_flop,
            "FLoP: PPO on the connection calculus from one training proof, with a curriculum"
            " that moves the episodes' start from the proof's end back to the root.",
        ),
        (
            app,
            "prove-flop",
            FlopEvalConfig,
            _prove_flop,
            "Prove TPTP problems with a trained FLoP agent (greedy, then sampled attempts until"
            " the time limit); every proof re-checked by the checker.",
        ),
    ]
    for group, name, config, runner, text in commands:
        add_config_command(group, name, config, runner, help=text)


_register_config_commands()


def main() -> None:
    """Entry point: set thread defaults, run the command, turn user errors into one line.

    Exit status is the command's own (``sat solve``: 10 SATISFIABLE, 20 UNSATISFIABLE,
    0 UNKNOWN), or 2 for an error the user can fix, printed as one line ``error: ...`` on
    stderr (control characters escaped) and never with a traceback:

    * a ``PalestraError``: a malformed input file (``FILE:LINE:COL: ...``), a bad config;
    * an ``OSError`` that names a path: a command's input missing, a directory, unreadable,
      or an output folder that cannot be made (``error: PATH: No such file or directory``);
    * as a last safety net, not as the fix, a ``RecursionError`` or ``MemoryError``
      escaping a command: ``error: input too deep/large: ...``. A reader meant to take
      adversarial input refuses too deep or too large input itself, with a position.

    Bad options exit with typer's usage message and status 2 as well; Ctrl-C exits 130.
    Any other exception is a bug and keeps its traceback (status 1), as does an ``OSError``
    that names no path; ``PALESTRA_TRACEBACK=1`` shows the traceback of the errors above too.
    """
    # Small matrix work over-threaded ran 14x slower on 2 cores; commands that want more
    # threads ask for them explicitly (torch.set_num_threads).
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except (PalestraError, OSError, RecursionError, MemoryError) as e:
        message = _user_error(e)
        if message is None or os.environ.get("PALESTRA_TRACEBACK"):
            raise
        typer.echo(f"error: {_one_line(message)}", err=True)
        sys.exit(2)


def _user_error(e: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None for a bug."""
    if isinstance(e, PalestraError):
        return str(e)
    if isinstance(e, OSError):
        if e.filename is None:
            return None  # no path of the user's: a socket, a pipe, a bug
        where = str(e.filename) if e.filename2 is None else f"{e.filename} -> {e.filename2}"
        return f"{where}: {e.strerror or e}"
    if isinstance(e, RecursionError):
        return f"input too deep/large: {type(e).__name__}: {e}"
    return f"input too deep/large: {type(e).__name__}: out of memory"


def _one_line(text: str) -> str:
    """``text`` with newlines and other control characters escaped (a path may hold them)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


if __name__ == "__main__":
    main()
