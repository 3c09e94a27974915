"""Step timing for the Python sides of run.sh, printed like fincrm-analytics-bench's.

    steps = Steps(started)        # time.time() taken before the heavy imports
    ...; steps.lap("summary")     # wall seconds since the previous lap, echoed to stderr
    print(json.dumps(steps.report(out)))
"""
import resource
import sys
import time


def csv_args(argv):
    """FILE CALIBRATION_END [CUSTOMER_COL DATE_COL AMOUNT_COL], the columns defaulting to
    customer_id, date, amount: (path, end, customer, date, amount)."""
    path, end = argv[0], argv[1]
    cust, date, amount = argv[2:5] + ["customer_id", "date", "amount"][len(argv[2:5]):]
    return path, end, cust, date, amount


class Steps:
    def __init__(self, import_started):
        self.last = time.time()
        self.secs = {"import": self.last - import_started}

    def lap(self, name):
        now = time.time()
        self.secs[name] = now - self.last
        self.last = now
        print(f"  {name:<12} {self.secs[name]:8.3f} s", file=sys.stderr)

    def report(self, out):
        """`out` with the step times, their order, their total (imports excluded) and peak RSS."""
        out["secs"] = self.secs
        out["steps"] = [k for k in self.secs if k != "import"]
        out["total_secs"] = sum(v for k, v in self.secs.items() if k != "import")
        out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return out
