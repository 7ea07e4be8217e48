from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from analysis.mrmc_files import FILE_FOMS, IMRMCFileError, analyse_pair, read_imrmc
from analysis.study_power import PilotComponents, power_table, smallest_designs
from models_zoo.metrics import MetricInputError

CASE_COLUMNS = (50, 100, 200, 300, 500, 1000, 2000)


class Command(BaseCommand):
    help = (
        "Power of a planned two-modality MRMC study (random readers, random cases; Hillis, Obuchowski & "
        "Berbaum 2011) from the variance components of a pilot iMRMC file, and the smallest designs "
        "reaching the target power."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The pilot study as an iMRMC file.")
        parser.add_argument("--effect", type=float, required=True, help="The difference of FOMs to detect, e.g. 0.05.")
        parser.add_argument("--power", type=float, default=0.8, help="The target power (default 0.8).")
        parser.add_argument(
            "--alpha", type=float, default=0.05, help="The two-sided significance level (default 0.05)."
        )
        parser.add_argument("--fom", choices=FILE_FOMS, default="auc")
        parser.add_argument(
            "--modalities", nargs=2, metavar=("A", "B"),
            help="The two modalities of the pilot to take the components from (needed when it has more than two).",
        )
        parser.add_argument(
            "--max-readers", type=int, default=20, help="Designs of 2 to this many readers (default 20)."
        )
        parser.add_argument(
            "--max-cases", type=int, default=5000, help="The most cases a design may have (default 5000)."
        )

    def handle(self, *args, **options):
        path = options["file"]
        if not path.is_file():
            raise CommandError(
                f"{path}: no such file. plan_study takes the components from a pilot iMRMC file; planning "
                "from a study's answers is not available yet"
            )
        self._check_options(options)
        try:
            data = read_imrmc(path, fom=options["fom"])
            modality_a, modality_b = self._modalities(data.modalities, options["modalities"])
            pair = analyse_pair(data, modality_a, modality_b)
        except IMRMCFileError as error:
            raise CommandError(str(error)) from None
        except MetricInputError as error:
            raise CommandError(f"{path}: {error}") from None
        for note in pair.warnings:
            self.stdout.write(self.style.WARNING(note))
        pilot = PilotComponents.from_components(pair.comparison.components)
        self.stdout.write(
            f"Pilot {path.name}: modality {modality_a} vs {modality_b}, {len(pair.readers)} readers, "
            f"{pilot.n_cases} cases, FOM {options['fom']}\n"
            f"  Var(TR) {pilot.var_tr:.8f}  Var(error) {pilot.var_error:.8f}  Cov1 {pilot.cov1:.8f}  "
            f"Cov2 {pilot.cov2:.8f}  Cov3 {pilot.cov3:.8f}\n"
        )
        self._write_table(pilot, options)
        self._write_smallest(pilot, options)

    @staticmethod
    def _check_options(options):
        if not (np.isfinite(options["effect"]) and options["effect"] > 0):
            raise CommandError(f"--effect {options['effect']}: expected a positive difference of FOMs")
        for name in ("power", "alpha"):
            if not 0 < options[name] < 1:
                raise CommandError(f"--{name} {options[name]}: expected a value strictly between 0 and 1")
        if options["max_readers"] < 2:
            raise CommandError(f"--max-readers {options['max_readers']}: expected at least 2")
        if options["max_cases"] < 2:
            raise CommandError(f"--max-cases {options['max_cases']}: expected at least 2")

    @staticmethod
    def _modalities(modalities, chosen):
        if chosen is None:
            if len(modalities) > 2:
                raise IMRMCFileError(
                    f"the pilot has {len(modalities)} modalities ({', '.join(modalities)}): "
                    "choose two with --modalities A B"
                )
            return modalities
        unknown = [m for m in chosen if m not in modalities]
        if unknown or chosen[0] == chosen[1]:
            raise IMRMCFileError(
                f"--modalities {' '.join(chosen)}: expected two different modalities of {', '.join(modalities)}"
            )
        return tuple(chosen)

    def _write_table(self, pilot, options):
        readers = np.arange(2, options["max_readers"] + 1)
        cases = np.array([c for c in CASE_COLUMNS if c <= options["max_cases"]] or [options["max_cases"]])
        power, _, _ = power_table(pilot, effect=options["effect"], readers=readers, cases=cases, alpha=options["alpha"])
        self.stdout.write(
            f"Power to detect a difference of {options['effect']:g} at alpha {options['alpha']:g} "
            "(random readers, random cases):"
        )
        self.stdout.write("  readers \\ cases" + "".join(f"{c:>7}" for c in cases))
        for n_readers, row in zip(readers, power):
            self.stdout.write(f"  {n_readers:>15}" + "".join(f"{p:>7.2f}" for p in row))

    def _write_smallest(self, pilot, options):
        designs = smallest_designs(
            pilot,
            effect=options["effect"],
            target=options["power"],
            alpha=options["alpha"],
            readers=range(2, options["max_readers"] + 1),
            max_cases=options["max_cases"],
        )
        if not designs:
            self.stdout.write(
                self.style.WARNING(
                    f"\nNo design of up to {options['max_readers']} readers and {options['max_cases']} cases reaches "
                    f"power {options['power']:g}: more readers (or cases) are needed; Var(TR) caps the power of "
                    "a number of readers however many cases."
                )
            )
            return
        fewest = min(designs, key=lambda design: design.n_readers * design.n_cases)
        self.stdout.write(
            f"\nSmallest designs reaching power {options['power']:g} (the fewest cases per number of readers):"
        )
        self.stdout.write(f"  {'readers':>7} {'cases':>6} {'readings':>9} {'power':>6}")
        for design in designs:
            mark = "  <- fewest readings" if design is fewest else ""
            self.stdout.write(
                f"  {design.n_readers:>7} {design.n_cases:>6} {design.n_readers * design.n_cases:>9} "
                f"{design.power:>6.3f}{mark}"
            )
