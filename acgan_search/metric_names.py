"""Names of every metric that training, evaluation, the search and the report exchange.

Modules that report or read a metric import its name from here, so a rename happens in one
place. Training losses are reported per interval as means over the interval's steps.
"""

# Evaluation of generated images under the independent evaluator classifier.
FID = "fid"
FID_REAL_FLOOR = "fid_real_floor"  # Real-versus-real FID at the same sample count.
INTRA_FID = "intra_fid"  # Mean over classes of the per-class FID.
INTRA_FID_PREFIX = "intra_fid_class_"  # Followed by the class index.
INTRA_FID_REAL_FLOOR = "intra_fid_real_floor"  # Mean over classes of the real-versus-real FID.
CLASS_ACCURACY = "class_accuracy"
CLASS_ACCURACY_PREFIX = "class_accuracy_class_"  # Followed by the class index.
CLASS_ENTROPY = "class_entropy"  # Entropy of the predicted class distribution, in nats.
WITHIN_CLASS_DIVERSITY = "within_class_diversity"
EVALUATOR_ACCURACY = "evaluator_accuracy"  # Evaluator accuracy on held-out real images.
EVALUATOR_FINGERPRINT = "evaluator_fingerprint"
EVAL_SAMPLES = "eval_samples"  # Generated images per evaluation.

# Training, reported every interval.
STEP = "step"
D_LOSS = "d_loss"
G_LOSS = "g_loss"
D_ADVERSARIAL_LOSS = "d_adversarial_loss"
D_CLASS_LOSS = "d_class_loss"
G_ADVERSARIAL_LOSS = "g_adversarial_loss"
G_CLASS_LOSS = "g_class_loss"
FEATURE_MATCHING_LOSS = "feature_matching_loss"
CLASS_WEIGHT = "class_weight"  # Class-loss weight in force at the end of the interval.
IMAGES_PER_SECOND = "images_per_second"

# Search bookkeeping.
DIVERGED = "diverged"  # 1.0 when losses or metrics became NaN or infinite, else 0.0.
