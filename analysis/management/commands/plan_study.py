from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from analysis.assistance import assisted_pilot, orh_aided_vs_unaided
from analysis.mrmc import ANSWER_FOMS, model_vs_readers_on_answers
from analysis.mrmc_files import FILE_FOMS, IMRMCFileError, analyse_pair, read_imrmc
from analysis.report_assistance import arm_readings
from analysis.report_inputs import ReportError
from analysis.study_arrays import default_model_runs, model_runs_named, study_answers
from analysis.study_power import PilotComponents, power_table, smallest_designs
from analysis.reader_arrays import NO_ANSWER
from models_zoo.classification_figures import MetricInputError
from site_machinery.commands import ensure_migrated
from study.lookups import get_study

CASE_COLUMNS = (50, 100, 200, 300, 500, 1000, 2000)
# The modalities an assisted pilot's iMRMC file names its two readings of each case by, unless --modalities.
ASSISTED_MODALITIES = ("unaided", "aided")


class Command(BaseCommand):
    help = (
        "Power of a planned two-modality MRMC study (random readers, random cases; Hillis, Obuchowski & "
        "Berbaum 2011) from the variance components of a pilot: an iMRMC file, or a study's answers with "
        "--cohort (a model against that cohort's readers), or with --assisted the readers unaided and aided, from "
        "an iMRMC file or an assisted study's answers with --cohort; and the smallest designs reaching the target "
        "power."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file", metavar="FILE_OR_STUDY",
            help="The pilot: an iMRMC file, or with --cohort the name of a study whose answers are the pilot.",
        )
        parser.add_argument(
            "--cohort", metavar="C",
            help="Plan from the study's answers: the model against the readers of this cohort (e.g. expert); with "
            "--assisted the cohort's readers with the suggestion against alone.",
        )
        parser.add_argument(
            "--assisted", action="store_true",
            help="Plan an assisted reading study (aided against unaided) from a pilot iMRMC file whose modalities "
            "are the readers' unaided and aided readings, 'unaided' and 'aided' unless --modalities UNAIDED AIDED "
            "names them, or with --cohort from an assisted study's answers (the cases with the model's own "
            "suggestion); every component, Cov1 included, is the pilot's. FOM accuracy unless --fom.",
        )
        parser.add_argument(
            "--model", metavar="RUN",
            help="With --cohort: the model run (default: the report's model, the first run that predicted every "
            "study sample, single-class runs first).",
        )
        parser.add_argument("--effect", type=float, required=True, help="The difference of FOMs to detect, e.g. 0.05.")
        parser.add_argument("--power", type=float, default=0.8, help="The target power (default 0.8).")
        parser.add_argument(
            "--alpha", type=float, default=0.05, help="The two-sided significance level (default 0.05)."
        )
        parser.add_argument(
            "--fom", choices=sorted(set(FILE_FOMS) | set(ANSWER_FOMS)),
            help="The figure of merit: auc (default) or accuracy for a file; accuracy (default) or f1 (macro F1) "
            "for a study.",
        )
        parser.add_argument(
            "--modalities", nargs=2, metavar=("A", "B"),
            help="The two modalities of the pilot to take the components from (needed when it has more than two); "
            "with --assisted the unaided one first.",
        )
        parser.add_argument(
            "--max-readers", type=int, default=20, help="Designs of 2 to this many readers (default 20)."
        )
        parser.add_argument(
            "--max-cases", type=int, default=5000, help="The most cases a design may have (default 5000)."
        )

    def handle(self, *args, **options):
        self._check_options(options)
        if options["assisted"]:
            pilot = self._assisted_pilot(options)
        elif options["cohort"] is not None:
            pilot = self._pilot_from_study(options)
        else:
            pilot = self._pilot_from_file(options)
        self._write_table(pilot, options)
        self._write_smallest(pilot, options)

    @staticmethod
    def _pilot_file(options, default_fom: str) -> tuple[Path, str]:
        path = Path(options["file"])
        if options["model"] is not None:
            raise CommandError("--model: only with --cohort, when planning from a study's answers")
        if not path.is_file():
            raise CommandError(
                f"{path}: no such file. plan_study takes the components from a pilot iMRMC file, or from a "
                "study's answers with --cohort (plan_study STUDY --cohort expert --effect 0.05)"
            )
        fom = options["fom"] or default_fom
        if fom not in FILE_FOMS:
            raise CommandError(f"--fom {fom}: a file's FOM is one of {', '.join(FILE_FOMS)}")
        return path, fom

    def _assisted_pilot(self, options) -> PilotComponents:
        """The components of aided against unaided readings in a pilot iMRMC file, Cov1 the pilot's own."""
        if options["cohort"] is not None:
            return self._assisted_pilot_from_study(options)
        path, fom = self._pilot_file(options, "accuracy")
        unaided, aided = options["modalities"] or ASSISTED_MODALITIES
        try:
            data = read_imrmc(path, fom=fom)
            missing = [name for name in (unaided, aided) if name not in data.modalities]
            if missing or unaided == aided:
                raise IMRMCFileError(
                    f"{path}: --assisted needs two different modalities, the unaided and the aided readings "
                    f"({unaided}, {aided}); the file has {', '.join(data.modalities)}: name them with "
                    "--modalities UNAIDED AIDED"
                )
            pair = analyse_pair(data, aided, unaided)
        except IMRMCFileError as error:
            raise CommandError(str(error)) from None
        except MetricInputError as error:
            raise CommandError(f"{path}: {error}") from None
        for note in pair.warnings:
            self.stdout.write(self.style.WARNING(note))
        pilot = PilotComponents.from_components(pair.comparison.components)
        comparison = pair.comparison
        self.stdout.write(
            f"Assisted pilot {path.name}: {unaided} vs {aided}, {len(pair.readers)} readers, {pilot.n_cases} cases, "
            f"FOM {fom}\n"
        )
        self._write_assisted_components(pilot, comparison)
        return pilot

    def _assisted_pilot_from_study(self, options) -> PilotComponents:
        """The components of a cohort's readers with the suggestion against alone in an assisted study, on the
        cases with the model's own suggestion (``analysis.report_assistance.arm_readings``)."""
        fom = options["fom"] or "accuracy"
        if fom not in ANSWER_FOMS:
            raise CommandError(f"--fom {fom}: a study's FOM is one of {', '.join(ANSWER_FOMS)}")
        for option in ("modalities", "model"):
            if options[option] is not None:
                raise CommandError(f"--{option}: not with --assisted --cohort, which plans from a study's own readings")
        ensure_migrated(lambda line: self.stderr.write(line))
        study = get_study(options["file"])
        try:
            data = study_answers(study, [])
        except ReportError as error:
            raise CommandError(str(error)) from None
        if data.assisted is None:
            raise CommandError(
                f"study {study.name} is read unaided: --assisted plans from a study read with the model's suggestion "
                "(set_assistance), or from a pilot iMRMC file of unaided and aided readings"
            )
        arm = arm_readings(data)
        if arm is None:
            raise CommandError(f"study {study.name}: no reader has read a case both alone and with the suggestion yet")
        cohort = options["cohort"]
        try:
            pilot = assisted_pilot(arm.model, cohort=cohort, fom=fom)
        except MetricInputError as error:
            raise CommandError(f"study {study.name}: {error}") from None
        comparison = orh_aided_vs_unaided(arm.model, foms=(fom,)).comparisons[(cohort, fom)]
        self.stdout.write(
            f"Assisted pilot study {study.name} ({data.assisted.design}): cohort {cohort}, unaided vs aided, "
            f"{int(arm.model.members(cohort).sum())} readers, {pilot.n_cases} cases, FOM {fom}\n"
        )
        self._write_assisted_components(pilot, comparison)
        return pilot

    def _write_assisted_components(self, pilot: PilotComponents, comparison) -> None:
        correlation = pilot.cov1 / pilot.var_error if pilot.var_error > 0 else float("nan")
        self.stdout.write(
            f"  observed: unaided {comparison.fom_b:.4f}, aided {comparison.fom_a:.4f}, effect "
            f"{comparison.difference:+.4f}\n"
            f"  Var(TR) {pilot.var_tr:.8f}  Var(error) {pilot.var_error:.8f}  Cov1 {pilot.cov1:.8f}  "
            f"Cov2 {pilot.cov2:.8f}  Cov3 {pilot.cov3:.8f}\n"
            f"  Cov1 / Var(error) {correlation:.3f}: the pilot's correlation of a reader's unaided and aided errors\n"
            "  (larger in a sequential design than in a crossover: the plan holds for a study of the pilot's design)\n"
        )

    def _pilot_from_file(self, options) -> PilotComponents:
        path, fom = self._pilot_file(options, "auc")
        try:
            data = read_imrmc(path, fom=fom)
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
            f"{pilot.n_cases} cases, FOM {fom}\n"
            f"  Var(TR) {pilot.var_tr:.8f}  Var(error) {pilot.var_error:.8f}  Cov1 {pilot.cov1:.8f}  "
            f"Cov2 {pilot.cov2:.8f}  Cov3 {pilot.cov3:.8f}\n"
        )
        return pilot

    def _pilot_from_study(self, options) -> PilotComponents:
        """The components of the model against the cohort's readers on the study's answers, as the
        equivalent two-modality design (``PilotComponents.from_model_vs_readers``)."""
        fom = options["fom"] or "accuracy"
        if fom not in ANSWER_FOMS:
            raise CommandError(f"--fom {fom}: a study's FOM is one of {', '.join(ANSWER_FOMS)}")
        if options["modalities"] is not None:
            raise CommandError("--modalities: only for a pilot iMRMC file")
        ensure_migrated(lambda line: self.stderr.write(line))
        study = get_study(options["file"])
        cohort = options["cohort"]
        try:
            runs = model_runs_named(study, [options["model"]]) if options["model"] else default_model_runs(study)[:1]
            if not runs:
                raise ReportError(
                    f"study {study.name}: no model run predicted all its samples; name one with --model RUN"
                )
            data = study_answers(study, runs)
        except ReportError as error:
            raise CommandError(str(error)) from None
        cohorts = sorted({person.cohort for person in data.people})
        members = [
            i for i, person in enumerate(data.people)
            if person.cohort == cohort and (data.answers[i] != NO_ANSWER).any()
        ]
        if cohort not in cohorts:
            raise CommandError(
                f"--cohort {cohort}: study {study.name} has no such cohort (cohorts: {', '.join(cohorts) or 'none'})"
            )
        if len(members) < 2:
            raise CommandError(
                f"--cohort {cohort}: {len(members)} reader(s) of the cohort have answered; the pilot needs two or more"
            )
        model = data.models[0]
        try:
            result = model_vs_readers_on_answers(
                model.answers, data.answers[members], data.truth, data.n_classes, fom=fom
            )
        except MetricInputError as error:
            raise CommandError(f"study {study.name}: {error}") from None
        for note in result.warnings:
            self.stdout.write(self.style.WARNING(note))
        pilot = PilotComponents.from_model_vs_readers(result)
        self.stdout.write(
            f"Pilot study {study.name}: model {model.name} vs cohort {cohort}, {len(members)} readers, "
            f"{pilot.n_cases} cases, FOM {fom}\n"
            f"  observed: model {result.model_fom:.4f}, mean of the readers {result.mean_reader_fom:.4f}, "
            f"effect {result.effect:+.4f}\n"
            f"  Var(TR) {pilot.var_tr:.8f}  Var(error) {pilot.var_error:.8f}  Cov1 {pilot.cov1:.8f}  "
            f"Cov2 {pilot.cov2:.8f}  Cov3 {pilot.cov3:.8f}\n"
        )
        return pilot

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
