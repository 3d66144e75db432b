#!/usr/bin/env bash
# Run the six reference experiments and dump their records (times left out) into OUT_DIR, one file per run.
# Used to check that a refactoring keeps behaviour: dump before, dump after, diff the two folders.
#     bash scripts/freeze_runs.sh OUT_DIR
set -euo pipefail
out="$(realpath -m "${1:?usage: freeze_runs.sh OUT_DIR}")"
cd "$(dirname "$0")/.."
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
small=(--set loop.labelled_problems=200 --set train.labelled_steps=20 --set train.round_steps=8
       --set loop.problems_per_round=16 --set eval.problems=8)
run() {  # name, then selftaught run arguments
    local name="$1"; shift
    selftaught run --out "$work/$name" "$@" >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
    python scripts/dump_records.py "$work/$name" >"$out/$name.txt"
    echo "$name: $(wc -l <"$out/$name.txt") lines"
}
run smoke --preset smoke
run hf-smoke --preset hf-smoke
run code --preset code-selftrain "${small[@]}" --set loop.max_rounds=2 --set student.n_layer=1 \
    --set student.n_embd=32 --set verifier.samples=4
run grpo --preset smoke "${small[@]}" --set train.method=grpo --set verifier.samples=4 \
    --set verifier.temperature=1.0 --set train.grpo.groups=4
run bstar --preset smoke "${small[@]}" --set control.kind=bstar --set verifier.samples=4
run refine --preset code-selftrain "${small[@]}" --set loop.max_rounds=2 --set student.n_layer=1 \
    --set student.n_embd=32 --set verifier.samples=2 --set loop.attempts=refine --set refine.turns=2 \
    --set refine.memory=true
run grpo-online --preset smoke "${small[@]}" --set train.method=grpo --set verifier.samples=4 \
    --set verifier.temperature=1.0 --set train.grpo.groups=4 --set train.grpo.on_policy=2 --set train.grpo.beta=0.1
run climb --preset code-climb "${small[@]}" --set loop.max_rounds=2 --set student.n_layer=1 --set student.n_embd=32 \
    --set search.samples=4 --set search.compose=4 --set search.eval_samples=4 --set "search.k=[1,4]" --set verifier.samples=2
