# Trumpet curve plot for bench-trumpet (bench/trumpet.c runs this).
# Variables from the command line (gnuplot -e): datafile, outfile, rundate,
# and per panel i = 0, 1: rate<i> (mL/h) and replay<i> (text).
# datafile: one block per rate (index 0, 1), columns
#   window_min ep_max_pct ep_min_pct a_pct
#
# Two rows. Top: the whole ±2.5 % with the ±2 % band syringe pumps must
# meet (CLINICAL.md), to show where the curves sit against the anchor, and
# our own software target (±0.5 % at the 2 min window, CLINICAL.md).
# Bottom: the same curves with the y axis fitted to them, so their shape
# (wide at 2 min, narrowing to 31 min) can be read; the range is printed.
# The dotted curve there is 1 nL, the balance's resolution (the sim's
# delivered volume is whole nL), as a percentage of the window's volume:
# errors near it are rounding, not delivery.

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
        set terminal pngcairo size 1400,1000 font "DejaVu Sans,11" noenhanced
} else {
        set terminal png size 1400,1000 noenhanced
}
set output outfile
set encoding utf8

rate(i) = (i == 0) ? rate0 : rate1
replay(i) = (i == 0) ? replay0 : replay1

set style line 1 lc rgb "#c0392b" lw 2 pt 7 ps 1.2       # Ep(max)
set style line 2 lc rgb "#2471a3" lw 2 pt 5 ps 1.2       # Ep(min)
set style line 3 lc rgb "#1e8449" lw 2 dt 2              # A
set style line 4 lc rgb "#7f8c8d" lw 1 dt 3              # ±1 nL
set style line 5 lc rgb "#b9770e" lw 1 dt 4              # ±0.5 % software target
set style fill transparent solid 0.12 noborder

set xrange [1:32]
set xtics (2, 5, 11, 19, 31)
set grid ytics lc rgb "#dddddd"
set key top right box opaque
set format y "%+g"

set multiplot layout 2,2 title sprintf("Trumpet curve, IEC 60601-2-24 method: sim mechanism in virtual time, second hour of 2 h, 30 s samples (run %s)", rundate)

# Top row: against the ±2 % anchor.
do for [i=0:1] {
        set title sprintf("%g mL/h, full scale (%s)", rate(i), replay(i))
        set xlabel "observation window P (min)"
        set ylabel "error (% of set rate)"
        set yrange [-2.5:2.5]
        set ytics 0.5
        set format y "%+g"
        plot 2 with filledcurves y1=-2 lc rgb "#7f8c8d" title "syringe pump limit ±2 %", \
             0.5 with lines ls 5 title "our software target ±0.5 % (2 min)", \
             -0.5 with lines ls 5 notitle, \
             datafile index i using 1:2 with linespoints ls 1 title "Ep(max)", \
             '' index i using 1:3 with linespoints ls 2 title "Ep(min)", \
             '' index i using 1:4 with lines ls 3 title "A (overall)"
}

# Bottom row: zoomed to the data, symmetric about 0.
do for [i=0:1] {
        # stats skips points outside the current ranges: free them first.
        set autoscale y
        stats datafile index i using 2 nooutput
        hi = abs(STATS_max) > abs(STATS_min) ? abs(STATS_max) : abs(STATS_min)
        stats datafile index i using 3 nooutput
        hi = abs(STATS_max) > hi ? abs(STATS_max) : hi
        hi = abs(STATS_min) > hi ? abs(STATS_min) : hi
        hi = hi > 1e-6 ? hi * 1.25 : 1e-6
        set title sprintf("%g mL/h, zoomed: y axis ±%.2g %% (%s)", rate(i), hi, replay(i))
        set yrange [-hi:hi]
        set ytics autofreq
        set format y (hi < 1e-3 ? "%+.5f" : (hi < 1e-2 ? "%+.4f" : (hi < 0.1 ? "%+.3f" : "%+.2f")))
        # 1 nL over window P (min) at rate r (mL/h), in %: 100 / (r·1e6 · P/60).
        one_nl(x) = 100.0 * 60.0 / (rate(i) * 1e6 * x)
        set samples 200
        plot sample [2:31] one_nl(x) with lines ls 4 title "±1 nL over the window", \
             [2:31] -one_nl(x) with lines ls 4 notitle, \
             datafile index i using 1:2 with linespoints ls 1 title "Ep(max)", \
             '' index i using 1:3 with linespoints ls 2 title "Ep(min)", \
             '' index i using 1:4 with lines ls 3 title "A (overall)", \
             0 with lines lc rgb "#999999" lw 1 notitle
}
unset multiplot
