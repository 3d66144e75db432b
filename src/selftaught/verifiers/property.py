"""The property verifier: Hypothesis draws inputs, the sandbox runs the attempt on all of them at once, and the
properties the task declares are checked here on the outputs; a failure is shrunk to a small counterexample.

This follows the Property-Generated Solver (PGS, "Use Property-Based Testing to Bridge LLM Code Generation and
Validation"): rather than fixed input/output tests, high-level properties ("the output is sorted and a permutation of
the input") or agreement with a reference are checked on generated inputs, and the feedback is the simplest failing
input found ("for x = [1, 0]: expected sorted output, got [1, 0]").

How it runs, per problem: ``task.properties(problem)`` gives a ``PropertySpec``; Hypothesis draws a pool of inputs
from its strategy once per strategy and seed, and each problem gets ``examples`` of them chosen by its prompt (so
the same problem always gets the same inputs for a seed); each distinct attempt runs once in the sandbox on the
whole list, printing its outputs; the properties and the reference are checked in this process. For an attempt that
fails, the failing input is shrunk greedily: each round sends all one-step simplifications of the current
counterexample (shorter lists, smaller numbers) through the sandbox in one run and keeps the simplest that still
fails. Shrinking uses these simple structural steps rather than Hypothesis's own shrinker, which asks for one run at
a time; the ``assume`` predicate of the spec (and a reference that raises) keep it inside the problem's domain.

Reward: the share of generated inputs whose properties hold; accepted only at 1.0.
"""

from __future__ import annotations

import copy
import random
import secrets
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.sandbox import Limits, Sandbox
from selftaught.sandbox.jobs import run_jobs
from selftaught.tasks.properties import Property, PropertySpec, resolve_properties
from selftaught.types import Problem, Verdict
from selftaught.verifiers.base import Score, Verifier, with_mean_reward
from selftaught.verifiers.inputs import generate_inputs, simplicity, simplifications
from selftaught.verifiers.outputs import SHOWN_CHARS, driver, read_outputs

_VARIANTS = 64  # simplifications tried per shrink round
_CACHE = 4096  # problems whose inputs (and reference outputs) are remembered
_POOL = 4  # inputs drawn per strategy, in multiples of the inputs each problem gets
_HEAD = 5  # the first (simplest) inputs of the pool go to every problem
_pools: dict[tuple[str, int, int], list[Any]] = {}  # (strategy, size, seed) -> inputs, shared by every verifier


@dataclass
class _Case:
    """One problem as the verifier prepares it: its spec, properties, inputs and the reference's outputs."""

    problem: Problem
    spec: PropertySpec
    props: tuple[Property, ...]
    inputs: list[Any]
    expected: list[Any] | None  # the reference's outputs (None: no reference)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


class PropertyVerifier(Verifier):
    """Checks the properties ``task.properties(problem)`` declares on ``examples`` generated inputs.

    ``seed`` fixes which inputs Hypothesis draws (with the prompt); ``shrink_rounds`` bounds the shrinking of a
    counterexample (each round is one sandbox run per failing attempt); ``sandbox``: the sandbox to use (default:
    the process-wide one); ``limits``: each run's limits (default: the task's ``limits`` attribute when it has one,
    else the sandbox's). Feedback: 'property: 3 of 50 inputs fail; for x = [1, 0]: expected sorted output, got
    [1, 0]'. A task that declares no properties for a problem, or names an unknown property, is a one-line
    ``SelftaughtError``.
    """

    name = "property"

    def __init__(
        self,
        task: Any,
        examples: int = 50,
        seed: int = 0,
        shrink_rounds: int = 20,
        sandbox: Sandbox | None = None,
        limits: Limits | None = None,
    ) -> None:
        if not callable(getattr(task, "properties", None)):
            raise SelftaughtError(
                f"task {getattr(task, 'name', task)!r} declares no properties (it has no properties() method), "
                "so the property verifier cannot check it"
            )
        if isinstance(examples, bool) or not isinstance(examples, int) or not 1 <= examples <= 10_000:
            raise SelftaughtError(f"property verifier examples={examples!r} must be a whole number in [1, 10000]")
        if isinstance(shrink_rounds, bool) or not isinstance(shrink_rounds, int) or shrink_rounds < 0:
            raise SelftaughtError(f"property verifier shrink_rounds={shrink_rounds!r} must be a whole number >= 0")
        self.task = task
        self.examples = examples
        self.seed = int(seed)
        self.shrink_rounds = shrink_rounds
        self.sandbox = sandbox
        self.limits = limits if limits is not None else getattr(task, "limits", None)
        self._cases: OrderedDict[tuple[str, str], _Case] = OrderedDict()

    # ------------------------------------------------------------------------------------------------ preparing
    def _spec(self, problem: Problem) -> tuple[PropertySpec, tuple[Property, ...]]:
        spec = self.task.properties(problem)
        if spec is None:
            raise SelftaughtError(
                f"task {getattr(self.task, 'name', self.task)!r} declares no properties for problem "
                f"{problem.prompt[:60]!r}; use the tests verifier for it"
            )
        props = resolve_properties(spec.checks)
        if not props and spec.reference is None and spec.reference_program is None:
            raise SelftaughtError(f"problem {problem.prompt[:60]!r}: its property spec names no property")
        return spec, props

    def _prepare(self, problems: Sequence[Problem]) -> list[_Case]:
        """Each problem's case, from the cache or new (reference programs of new ones run in one batch)."""
        cases: list[_Case | None] = []
        fresh: list[int] = []
        for problem in problems:
            key = (problem.task, problem.prompt)
            case = self._cases.get(key)
            if case is None:
                spec, props = self._spec(problem)
                inputs = self._inputs(spec.strategy, problem.prompt)
                case = _Case(problem, spec, props, inputs, None)
                if spec.reference is not None:
                    self._reference_here(case)
                fresh.append(len(cases))
            cases.append(case)
        programs = [i for i in fresh if cases[i].spec.reference is None and cases[i].spec.reference_program]
        if programs:
            runs = self._run([(cases[i].spec.reference_program, cases[i]) for i in programs], None)
            for i, outcomes in zip(programs, runs, strict=True):
                case = cases[i]
                keep = [k for k, (kind, _) in enumerate(outcomes) if kind == "ok"]
                case.inputs = [case.inputs[k] for k in keep]
                case.expected = [outcomes[k][1] for k in keep]
        for i in fresh:
            case = cases[i]
            if not case.inputs:
                raise SelftaughtError(f"problem {case.problem.prompt[:60]!r}: no generated input is in its domain")
            self._cases[(case.problem.task, case.problem.prompt)] = case
            while len(self._cases) > _CACHE:
                self._cases.popitem(last=False)
        return cases  # type: ignore[return-value]

    def _inputs(self, strategy: Any, prompt: str) -> list[Any]:
        """``examples`` inputs for one problem: the pool's first (simplest) few, then a sample of the rest chosen by
        the prompt. Hypothesis draws one pool of ``_POOL`` times as many per strategy and seed, once per process; a
        draw per problem would cost a tenth of a second each. Each problem gets its own copies."""
        key = (repr(strategy), _POOL * self.examples, self.seed)
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = generate_inputs(strategy, _POOL * self.examples, self.seed)
        if len(pool) <= self.examples:
            return copy.deepcopy(pool)
        head = min(_HEAD, self.examples)
        rng = random.Random(zlib.crc32(prompt.encode()) ^ self.seed)
        picked = sorted(rng.sample(range(head, len(pool)), self.examples - head))
        return copy.deepcopy(pool[:head] + [pool[i] for i in picked])

    @staticmethod
    def _call_reference(spec: PropertySpec, x: Any) -> tuple[bool, Any]:
        x = copy.deepcopy(x)  # a reference that changes its argument must not change the input checked later
        try:
            return True, spec.reference(*x) if spec.unpack else spec.reference(x)
        except Exception:
            return False, None

    def _reference_here(self, case: _Case) -> None:
        kept, expected = [], []
        for x in case.inputs:
            ok, y = self._call_reference(case.spec, x)
            if ok:
                kept.append(x)
                expected.append(y)
        case.inputs, case.expected = kept, expected

    # ------------------------------------------------------------------------------------------------ running
    def _run(self, items: Sequence[tuple[str, _Case]], inputs: Sequence[Sequence[Any]] | None) -> list[list]:
        """Run each (program source, case) on its case's inputs (or ``inputs[i]``) in one sandbox batch."""
        nonce = "#" + secrets.token_hex(8)
        jobs = []
        for i, (source, case) in enumerate(items):
            xs = case.inputs if inputs is None else inputs[i]
            jobs.append((source, [driver(xs, case.spec.entry_point, case.spec.unpack, nonce)], None))
        results = run_jobs(jobs, self.sandbox, self.limits)
        return [
            read_outputs(r, len(case.inputs if inputs is None else inputs[i]), nonce)
            for i, ((_, case), r) in enumerate(zip(items, results, strict=True))
        ]

    @staticmethod
    def _failure(case: _Case, x: Any, outcome: tuple[str, Any], expected: Any, has_expected: bool) -> str | None:
        """Why output ``outcome`` for input ``x`` breaks the spec, or None when every property holds."""
        kind, value = outcome
        if kind == "missing":
            return str(value)
        if kind == "err":
            return f"raised {value}"
        if kind == "bad":
            return f"returned {value[:SHOWN_CHARS]}, not a plain value"
        for prop in case.props:
            try:
                holds = bool(prop.holds(x, value))
            except Exception:
                holds = False
            if not holds:
                return f"expected {prop.expected}, got {_short(value)}"
        if has_expected and (type(value) is not type(expected) or value != expected):
            return f"expected {_short(expected)}, got {_short(value)}"
        return None

    def _shrink(self, work: list[tuple[_Case, str, Any, str]]) -> list[tuple[Any, str]]:
        """Shrink each (case, program, failing input, why) together: one sandbox batch per round."""
        current = [(x, why) for _, _, x, why in work]
        tried = [{repr(x)} for _, _, x, _ in work]
        active = list(range(len(work)))
        for _ in range(self.shrink_rounds):
            batch, variants = [], []
            for i in active:
                case, source, _, _ = work[i]
                spec = case.spec
                options = []
                for v in simplifications(current[i][0], keep_length=spec.unpack):
                    if repr(v) in tried[i] or (spec.assume is not None and not _safe_assume(spec, v)):
                        continue
                    tried[i].add(repr(v))
                    options.append(v)
                options.sort(key=simplicity)
                options = options[:_VARIANTS]
                if spec.reference is not None:
                    refs = [self._call_reference(spec, v) for v in options]
                    options = [(v, r) for v, (ok, r) in zip(options, refs, strict=True) if ok]
                else:
                    options = [(v, None) for v in options]
                if options:
                    batch.append(i)
                    variants.append(options)
            if not batch:
                break
            runs = self._run([(work[i][1], work[i][0]) for i in batch], [[v for v, _ in opts] for opts in variants])
            still = []
            for i, opts, outcomes in zip(batch, variants, runs, strict=True):
                case = work[i][0]
                has_ref = case.spec.reference is not None
                for (v, ref), outcome in zip(opts, outcomes, strict=True):
                    if outcome[0] == "missing":
                        continue
                    why = self._failure(case, v, outcome, ref, has_ref)
                    if why is not None:
                        current[i] = (v, why)
                        still.append(i)
                        break
            active = still
            if not active:
                break
        return current

    # ------------------------------------------------------------------------------------------------ scoring
    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        return self.score_many([(problem, attempts)])[0]

    def score_many(self, batch: Sequence[tuple[Problem, list[str]]]) -> list[list[Score]]:
        cases = self._prepare([problem for problem, _ in batch])
        distinct: dict[tuple[int, str], int] = {}
        items: list[tuple[str, _Case]] = []
        for k, (case, (_, attempts)) in enumerate(zip(cases, batch, strict=True)):
            for a in attempts:
                if (k, a) not in distinct:
                    distinct[(k, a)] = len(items)
                    items.append((case.spec.program(a), case))
        runs = self._run(items, None)
        verdicts: list[tuple[float, str]] = []
        to_shrink: list[tuple[_Case, str, Any, str]] = []
        owners: list[int] = []
        for j, ((source, case), outcomes) in enumerate(zip(items, runs, strict=True)):
            has_ref = case.expected is not None
            fails = []
            for n, (x, outcome) in enumerate(zip(case.inputs, outcomes, strict=True)):
                why = self._failure(case, x, outcome, case.expected[n] if has_ref else None, has_ref)
                if why is not None:
                    fails.append((x, why, outcome[0]))
            verdicts.append(((len(case.inputs) - len(fails)) / len(case.inputs), ""))
            if fails:
                # start from the simplest failing input; a run that stopped (timeout) is reported, not shrunk
                shrinkable = [f for f in fails if f[2] != "missing"]
                x, why, _ = min(shrinkable, key=lambda f: simplicity(f[0])) if shrinkable else fails[0]
                counter = f"{len(fails)} of {len(case.inputs)} inputs fail"
                verdicts[j] = (verdicts[j][0], counter)
                if shrinkable and self.shrink_rounds:
                    to_shrink.append((case, source, x, why))
                    owners.append(j)
                else:
                    verdicts[j] = (verdicts[j][0], f"{counter}; for {case.spec.describe(x)}: {why}")
        for j, (x, why) in zip(owners, self._shrink(to_shrink), strict=True):
            case = items[j][1]
            verdicts[j] = (verdicts[j][0], f"{verdicts[j][1]}; for {case.spec.describe(x)}: {why}")
        out = []
        for k, (_, attempts) in enumerate(batch):
            scores = []
            for a in attempts:
                reward, text = verdicts[distinct[(k, a)]]
                scores.append(Score(reward, reward == 1.0, f"property: {text}" if text else ""))
            out.append(scores)
        return out

    def verdict(self, problem: Problem, attempts: list[str], scores: Sequence[Score]) -> Verdict:
        """The most common accepted attempt; the evidence adds the attempts' mean reward."""
        return with_mean_reward(super().verdict(problem, attempts, scores), scores)

    def __repr__(self) -> str:
        return f"PropertyVerifier({self.task!r}, examples={self.examples}, seed={self.seed})"


def _safe_assume(spec: PropertySpec, v: Any) -> bool:
    try:
        return bool(spec.assume(v))
    except Exception:
        return False
