# Q7 (bench/README.md): highest bid. Per tumbling 10 s window on ts the bid with the highest
# price, ties broken by the smallest auction, then the smallest bidder. CSV in (columns found by
# header name), CSV out "window_start,auction,bidder,price". gawk or mawk.
# A whole-file group by window number (ts / 10000, < 2^31, so mawk keeps it exact as a
# subscript): the data's disorder is under the 2 s lateness, so nothing is late and this is the
# streaming answer. Times are printed with %.0f.
BEGIN { FS = "," }
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; A = col["auction"]; B = col["bidder"]; P = col["price"]
          T = col["ts"]; next }
{
  w = int($T / 10000); p = $P + 0; a = $A + 0
  if (!(w in bp) || p > bp[w] || (p == bp[w] && (a < ba[w] || (a == ba[w] && $B + 0 < bb[w])))) {
    bp[w] = p; ba[w] = a; bb[w] = $B + 0
  }
}
END {
  print "window_start,auction,bidder,price"
  for (w in bp) printf "%.0f,%.0f,%.0f,%.0f\n", w * 10000, ba[w], bb[w], bp[w]
}
