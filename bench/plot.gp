# plot.gp - throughput by message size from conqueue-bench --sizes data.
# Usage: gnuplot -e "datafile='sizes.dat'; outfile='sizes.png'" plot.gp
# Columns: size, then one MB/s column per system/flavour (named in the
# header line "# size name...").
set terminal pngcairo size 900,560 noenhanced
set output outfile
set title "A workload (1 producer, 1 consumer, capacity 1024): payload MB/s by message size (median)"
set xlabel "message size (bytes)"
set ylabel "MB/s of payload"
set logscale xy 2
set format x "%.0f"
set key left top
set grid
ncol = int(system("awk '/^# size/ { print NF - 2; exit }' " . datafile))
title_of(i) = system(sprintf("awk '/^# size/ { print $%d; exit }' %s", i + 2, datafile))
plot for [i=2:ncol+1] datafile using 1:i with linespoints lw 2 title title_of(i-1)
