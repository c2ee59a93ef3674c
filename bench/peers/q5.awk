# Q5 (bench/README.md): hot items. Event time ts, lateness 2 s; sliding 60 s windows every 10 s;
# per window the auction with the most bids (the smallest on ties). CSV in (columns found by
# header name), CSV out "window_start,auction,count", window_start in epoch ms. gawk or mawk.
# Streaming, as the C baseline: bids counted per 10 s pane and auction; when the watermark
# (max ts - 2000) reaches the end of window [s, s + 60 s), its six panes are added up, the top
# is printed and pane s dropped. Pane and window numbers are ts / 10000 (< 2^31, so mawk keeps
# them exact as array subscripts); times are printed with %.0f.
BEGIN { FS = ","; PANE = 10000; LATE = 2000; NP = 6; next_end = 1e300 }
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; A = col["auction"]; T = col["ts"]
          print "window_start,auction,count"; next }
{
  ts = $T + 0
  if (NR == 2 || ts > maxts) { maxts = ts; if (maxts - LATE >= next_end) fire(maxts - LATE, 0) }
  p = int(ts / PANE)
  if (started && p < fired) { late++; next }
  if (lo == "" || p < lo) { lo = p; if (!started) next_end = (p + 1) * PANE }
  if (hi == "" || p > hi) hi = p
  if (++cnt[p, $A] == 1) keys[p, ++nk[p]] = $A
}
# fire every window ending at or before wm (all of them at the end), in ascending order
function fire(wm, all,   stop, w, q, i, a, tot, best, bc) {
  if (lo == "") return
  if (!started) { fired = lo - (NP - 1); started = 1 }
  stop = all ? hi + 1 : int(wm / PANE) - NP + 1
  while (fired < stop && fired <= hi) {
    w = fired
    split("", tot); bc = 0
    for (q = w; q < w + NP; q++)
      if (q in nk) for (i = 1; i <= nk[q]; i++) { a = keys[q, i]; tot[a] += cnt[q, a] }
    for (a in tot) if (tot[a] > bc || (tot[a] == bc && a + 0 < best + 0)) { bc = tot[a]; best = a }
    if (bc > 0) printf "%.0f,%s,%d\n", w * PANE, best, bc
    if (w in nk) {
      for (i = 1; i <= nk[w]; i++) { delete cnt[w, keys[w, i]]; delete keys[w, i] }
      delete nk[w]
    }
    fired++
  }
  if (fired < stop) fired = stop
  next_end = (fired + NP) * PANE
}
END { fire(0, 1); if (late) printf "q5.awk: %d late records dropped\n", late > "/dev/stderr" }
