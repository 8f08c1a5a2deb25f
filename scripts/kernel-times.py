"""Sums an `ncu --csv --page raw --metrics gpu__time_duration.sum` log by kernel name: the kernels
that take the GPU's time in a run, largest first (used by gpu-check.sh's profile-mixed step)."""
import collections
import csv
import sys


def main(path):
    with open(path) as f:
        rows = [line for line in f if line.startswith('"')]
    reader = csv.DictReader(rows)
    total = collections.Counter()
    count = collections.Counter()
    for row in reader:
        value = row.get("gpu__time_duration.sum", "")
        try:
            ns = float(value.replace(",", ""))
        except ValueError:
            continue  # the units row
        name = row.get("Kernel Name", "?")
        total[name] += ns
        count[name] += 1
    grand = sum(total.values())
    print(f"{path}: {sum(count.values())} launches, {grand / 1e6:.2f} ms of kernel time")
    for name, ns in total.most_common(30):
        print(f"{ns / 1e6:9.3f} ms {100 * ns / grand:5.1f}% {count[name]:5d}x  {name[:90]}")


if __name__ == "__main__":
    main(sys.argv[1])
