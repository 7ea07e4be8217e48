"""Training and fine-tuning: the paper's recipe (GapNet-PL, ICLR 2019, section 3.1) as one loop."""
