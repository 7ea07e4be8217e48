"""Analysis of a reading study: readers' metrics (``reader_metrics``), ensembles, statistical tests,
multi-reader multi-case analysis (``mrmc``) and study power, agreement and intervals.

The numerical modules take arrays (see ``analysis.reader_arrays`` for the conventions) and return named
results; they import neither Django nor the study's models, so they can be used on their own.

The report builds on them, each module importing only those before it: ``report_inputs`` (what a
report is computed from; ``study_arrays`` fills it from the database), ``report_content`` (what it
holds), ``report_readers`` (its sections on the readers: background, anchoring, test-retest, reading
time and instructions, from ``biases``), ``report`` (the computation), ``report_tables`` (CSV and page
tables), ``report_files`` (the files on disk) and ``report_cache`` (the analyst page's built reports).
"""
