#!/usr/bin/env bash
# tree_rss.sh PID OUTFILE: samples the summed RSS (KB) of PID and all its descendants every
# 0.2 s until PID exits, and writes the peak to OUTFILE. GNU time's "maximum resident set
# size" only sees the largest waited-for process, which misses PySpark's JVM (a grandchild).
pid="$1" out="$2" peak=0
descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }
while kill -0 "$pid" 2>/dev/null; do
  pids="$( (echo "$pid"; descendants "$pid") | paste -sd, -)"
  rss="$(ps -o rss= -p "$pids" 2>/dev/null | awk '{s+=$1} END {print s+0}')"
  [ "$rss" -gt "$peak" ] && peak="$rss"
  sleep 0.2
done
echo "$peak" > "$out"
