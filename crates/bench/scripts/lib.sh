# Shared by the benchmark scripts (sourced, not run).

# wait_up URL: wait until something answers HTTP at URL (any status), up to 30 s.
wait_up() {
    for _ in $(seq 1 120); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.25
    done
    echo "not answering: $1 (see the logs in ${OUT:-the output folder})" >&2
    exit 1
}
