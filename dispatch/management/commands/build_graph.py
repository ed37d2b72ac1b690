"""``python manage.py build_graph``: build (or check) the cached road graph of municipalities."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dispatch.routing import registry
from dispatch.routing.network import Clip, cache_path, file_sha256, load_network
from fleet.models import Municipality


def _bbox(value: str) -> tuple[float, float, float, float]:
    try:
        south, west, north, east = (float(v) for v in value.split(","))
    except ValueError:
        raise CommandError(f"--bbox wants S,W,N,E in degrees, got {value!r}") from None
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        raise CommandError(f"--bbox {value!r} is not south,west,north,east")
    return south, west, north, east


class Command(BaseCommand):
    help = (
        "Build the road graph of municipalities from their local OSM extract (never downloads) "
        "and cache it, so the web and the workers load it in milliseconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--municipality", action="append", default=[], metavar="SLUG")
        parser.add_argument(
            "--all", action="store_true", help="every municipality with an OSM extract (default)"
        )
        parser.add_argument(
            "--source",
            metavar="FILE",
            help=".osm, .osm.bz2 or .osm.pbf; overrides the municipality's extract, or builds "
            "this file alone when no municipality is named",
        )
        parser.add_argument("--bbox", metavar="S,W,N,E", help="clip to this box instead")
        parser.add_argument("--force", action="store_true", help="rebuild even if cached")

    def handle(self, *args, **options):
        bbox = _bbox(options["bbox"]) if options["bbox"] else None
        source = Path(options["source"]) if options["source"] else None
        slugs = options["municipality"]
        jobs: list[tuple[str, registry.GraphSource]] = []
        if source is not None and not slugs and not options["all"]:
            jobs.append((source.name, registry.GraphSource(source, Clip(bbox=bbox))))
        else:
            municipalities = Municipality.objects.all()
            if slugs:
                municipalities = municipalities.filter(slug__in=slugs)
                missing = set(slugs) - set(municipalities.values_list("slug", flat=True))
                if missing:
                    raise CommandError(f"no municipality with slug {', '.join(sorted(missing))}")
            else:
                municipalities = municipalities.exclude(osm_file="")
            for m in municipalities:
                if source is None:
                    try:
                        src = registry.source_for(m)
                    except registry.RoutingUnavailable as exc:
                        raise CommandError(f"{exc}; pass --source FILE") from None
                else:
                    src = registry.GraphSource(source, registry.clip_for(m))
                if bbox is not None:  # the command line's box replaces the stored area
                    src = registry.GraphSource(src.path, Clip(bbox=bbox))
                jobs.append((m.slug, src))
        if not jobs:
            self.stdout.write("No municipality has an OSM extract configured; nothing to build.")
            return
        failures = 0
        for label, src in jobs:
            failures += not self._build(label, src, force=options["force"])
        registry.clear()
        if failures:
            raise CommandError(f"{failures} graph(s) could not be built")

    def _build(self, label: str, src: registry.GraphSource, *, force: bool) -> bool:
        if not src.path.is_file():
            self.stderr.write(f"{label}: OSM extract not found: {src.path}")
            return False
        cache_dir = Path(settings.KINISI_GRAPH_DIR)
        target = cache_path(cache_dir, src.path, file_sha256(src.path), src.clip)
        cached = target.is_file() and not force
        started = time.perf_counter()
        try:
            net = load_network(src.path, src.clip, cache_dir=cache_dir, force=force)
        except Exception as exc:  # the command reports and goes on to the next municipality
            self.stderr.write(f"{label}: cannot build the road graph from {src.path}: {exc}")
            return False
        elapsed = time.perf_counter() - started
        how = (
            f"loaded from cache in {elapsed * 1000:.0f} ms"
            if cached
            else f"built in {elapsed:.1f} s"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{label}: {net.n_nodes} junctions, {net.n_edges} road stretches "
                f"({src.path.name}, {src.clip.key()}), {how} -> {target}"
            )
        )
        return True
