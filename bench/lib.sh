# shellcheck shell=bash
# Helpers the benchmark scripts share; sourced, never run. This VM's speed drifts between runs
# (docs/BENCHMARKS.md), so the scripts report medians of alternating runs, and ratios of medians.

# median NUMBER...: the middle one in numeric order (the lower middle for an even count).
median() { [ $# -gt 0 ] || return 0; printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

# figure KEY: the NUMBER of KEY=NUMBER in each line of its input (a line without it prints nothing).
figure() { sed -nE "s/.*(^|[ \t])$1=([0-9.]+).*/\2/p"; }

# rate LINE: the tasks_per_s figure of one result line (fleet-bench's, or a peer script's).
rate() { figure tasks_per_s <<<"$1"; }

# median_of FILE KEY PATTERN: the median of KEY's figures over the lines of FILE that match PATTERN.
median_of() {
  # shellcheck disable=SC2046 # one word per figure
  median $(grep -- "$3" "$1" | figure "$2")
}

# ratio A B: A / B with two decimals, or n/a when either is missing or B is 0 (a run that failed).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b + 0 == 0) printf "n/a"; else printf "%.2f", a / b}'; }
