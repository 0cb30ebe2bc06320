(* A proof of statement.v: accepted. *)
Require Import Arith.

Definition double (n : nat) : nat := n + n.

Require Import Lia.
Lemma helper : forall a b : nat, a <= a + b.
Proof. intros; lia. Qed.

Theorem double_le : forall n : nat, n <= double n.
Proof.
  intros n. unfold double.
  apply helper.
Qed.
