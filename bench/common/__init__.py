"""What the benchmark scripts share (the scripts themselves are the files in `bench/`, one question
each): their command-line parsing (`arguments`), the provenance every result line carries
(`run_info`), the records and goal arithmetic of the evidence suite (`benchmarks`), training and
retraining many architectures (`evidence`), the skip audit's replay of recorded studies (`replay`),
the results page's answers table (`answers`), and a command bounded in time with its workers (`bounded`)."""
