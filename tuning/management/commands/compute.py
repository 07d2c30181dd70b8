import json

from django.core.management.base import BaseCommand

from tuning.selectors import compute_pools


class Command(BaseCommand):
    help = "The compute pools, their tuning workers (as last reported), devices and which are busy."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        pools = compute_pools()
        if opts["json"]:
            self.stdout.write(json.dumps({"pools": pools}, ensure_ascii=False))
            return
        for pool in pools:
            self.stdout.write(
                f"pool {pool['pool']} (queue {pool['queue']}): {pool['live_workers']} live, {pool['busy_workers']} busy"
            )
            for worker in pool["workers"]:
                run = f" run {worker['run']}" if worker["run"] else ""
                self.stdout.write(
                    f"  {worker['name']} [{worker['state']}{run}] {worker['devices']}× {worker['device_name']} "
                    f"({worker['device_type']}, {worker['memory_per_device_gb']} GB each), "
                    f"{worker['cpu_cores']} cores, {worker['ram_gb']} GB RAM, seen {worker['seconds_since_seen']} s ago"
                )
