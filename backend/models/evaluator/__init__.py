"""TMR-style text-motion evaluator (:mod:`.encoders`) and the metrics computed with it (:mod:`.metrics`)."""
