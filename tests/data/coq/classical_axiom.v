Require Import Classical.

Theorem excluded_middle : forall P : Prop, P \/ ~ P.
Proof.
  exact classic.
Qed.
