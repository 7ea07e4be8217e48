import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.mrmc import VARIANTS
from analysis.mrmc_files import FILE_FOMS, IMRMCFileError, PairAnalysis, analyse_file
from models_zoo.classification_figures import MetricInputError
from site_machinery.files import atomic_write

OUTPUT_FILE = "mrmc.json"
VARIANT_NAMES = dict(
    zip(VARIANTS, ("random readers, random cases", "fixed readers, random cases", "random readers, fixed cases"))
)


def pair_table(pair: PairAnalysis) -> list[str]:
    """The readable table of one pair of modalities: reader FOMs, variance components, the three tests."""
    comparison, components = pair.comparison, pair.comparison.components
    a, b = pair.modality_a, pair.modality_b
    lines = [
        f"Modality {a} vs {b}: {len(pair.readers)} readers, {pair.n_cases} cases",
        f"  {'reader':<12} {a:>12} {b:>12}",
        *(
            f"  {reader:<12} {fom_a:>12.8f} {fom_b:>12.8f}"
            for reader, fom_a, fom_b in zip(pair.readers, *comparison.reader_fom)
        ),
        f"  {'mean':<12} {comparison.fom_a:>12.8f} {comparison.fom_b:>12.8f}   difference {comparison.difference:.8f}",
        "",
        "  Var(R) {:.8f}  Var(TR) {:.8f}  Var(error) {:.8f}".format(
            components.var_r, components.var_tr, components.var_error
        ),
        f"  Cov1 {components.cov1:.8f}  Cov2 {components.cov2:.8f}  Cov3 {components.cov3:.8f}",
        f"  MS(T) {components.ms_t:.8f}  MS(R) {components.ms_r:.8f}  MS(T×R) {components.ms_tr:.8f}",
        "",
        f"  {'variant':<30} {'F':>8} {'df1':>4} {'df2':>8} {'p':>8}   "
        f"{comparison.tests[0].level:.0%} CI of the difference",
    ]
    for test in comparison.tests:
        lines.append(
            f"  {VARIANT_NAMES[test.variant]:<30} {test.F:>8.3f} {test.df1:>4} {test.df2:>8.2f} {test.p_value:>8.4f}"
            f"   [{test.ci_low:.5f}, {test.ci_high:.5f}]"
        )
    return lines


class Command(BaseCommand):
    help = (
        "Obuchowski-Rockette-Hillis MRMC analysis of an iMRMC file: every pair of modalities, with random "
        "readers and random cases (Hillis df), fixed readers, and fixed cases; jackknife covariances."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file", type=Path, help="An iMRMC file: a header, BEGIN DATA:, then reader,case,modality,score rows."
        )
        parser.add_argument(
            "--fom", choices=FILE_FOMS, default="auc",
            help="auc: scores and 0/1 truth (trapezoidal AUC); accuracy: class answers and class truth.",
        )
        parser.add_argument(
            "--out", type=Path,
            help=f"A folder to write {OUTPUT_FILE} into: one row per pair of modalities and variant "
            "(df2 is null for the fixed-readers variant, whose df is infinite).",
        )

    def handle(self, *args, **options):
        path = options["file"]
        try:
            data, pairs = analyse_file(path, fom=options["fom"])
        except IMRMCFileError as error:
            raise CommandError(str(error)) from None
        except MetricInputError as error:
            raise CommandError(f"{path}: {error}") from None
        self.stdout.write(
            f"{path.name}: {len(data.readers)} readers, {len(data.modalities)} modalities, "
            f"{len(data.cases)} cases; FOM {options['fom']}"
        )
        for pair in pairs:
            self.stdout.write("")
            for note in pair.warnings:
                self.stdout.write(self.style.WARNING(f"Modality {pair.modality_a} vs {pair.modality_b}: {note}"))
            self.stdout.write("\n".join(pair_table(pair)))
        if options["out"] is not None:
            target = options["out"] / OUTPUT_FILE
            rows = [row for pair in pairs for row in pair.json_rows(options["fom"])]
            try:
                with atomic_write(target) as handle:
                    handle.write((json.dumps(rows, indent=1, allow_nan=False) + "\n").encode())
            except OSError as error:
                raise CommandError(f"--out {options['out']}: cannot write {OUTPUT_FILE} ({error.strerror})") from None
            self.stdout.write(self.style.SUCCESS(f"Wrote {target}"))
