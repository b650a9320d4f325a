#include "kv/store/digest.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"
#include "kv/store/state.h"

namespace kv::store::internal {
namespace {

std::vector<Digest> SomeAtoms() {
  return {
      RegisterAtom("k", Stamp{7, 1}, 3, true, "value", 0),
      RegisterAtom("k", Stamp{7, 1}, 3, false, "", 0),
      StampAtom("k", kCounterStampAtom, Stamp{8, 2}, 4),
      StampAtom("k", kListStampAtom, Stamp{8, 2}, 4),
      RemovalAtom("k", kSetRemovalAtom, Dot{1, 2}, Dot{3, 4}),
      CounterAtom("k", kCounterIncAtom, CounterPart{1, 5, 1, -9, Dot{}}),
      ListItemAtom("l", Stamp{9, 1}, 6, "item"),
      SetItemAtom("s", "elem", Dot{2, 7}),
  };
}

Digest Sum(const std::vector<Digest>& atoms) {
  Digest d;
  for (const Digest& x : atoms) Plus(&d, x);
  return d;
}

TEST(Digest, SumDoesNotDependOnOrder) {
  std::vector<Digest> atoms = SomeAtoms();
  const Digest forward = Sum(atoms);
  std::reverse(atoms.begin(), atoms.end());
  EXPECT_EQ(Sum(atoms), forward);
  std::rotate(atoms.begin(), atoms.begin() + 3, atoms.end());
  EXPECT_EQ(Sum(atoms), forward);
}

TEST(Digest, MinusUndoesPlus) {
  const std::vector<Digest> atoms = SomeAtoms();
  const Digest start = Sum(atoms);
  for (const Digest& x : atoms) {
    Digest d = start;
    Plus(&d, x);
    EXPECT_NE(d, start);
    Minus(&d, x);
    EXPECT_EQ(d, start);
  }
}

TEST(Digest, RemovingEveryAtomInAnyOrderGivesTheEmptyDigest) {
  std::vector<Digest> atoms = SomeAtoms();
  Digest d = Sum(atoms);
  std::reverse(atoms.begin(), atoms.end());
  for (size_t i = 0; i < atoms.size(); i += 2) Minus(&d, atoms[i]);
  for (size_t i = 1; i < atoms.size(); i += 2) Minus(&d, atoms[i]);
  EXPECT_EQ(d, Digest{});
}

TEST(Digest, ReplacingAnAtomIsMinusOldPlusNew) {
  const Digest old_atom = StampAtom("k", kSetStampAtom, Stamp{1, 1}, 1);
  const Digest new_atom = StampAtom("k", kSetStampAtom, Stamp{2, 1}, 2);
  Digest d = Sum(SomeAtoms());
  Plus(&d, old_atom);
  Minus(&d, old_atom);
  Plus(&d, new_atom);
  Digest expected = Sum(SomeAtoms());
  Plus(&expected, new_atom);
  EXPECT_EQ(d, expected);
}

TEST(Digest, AtomsAreDistinct) {
  const std::vector<Digest> atoms = SomeAtoms();
  for (size_t i = 0; i < atoms.size(); ++i) {
    for (size_t j = i + 1; j < atoms.size(); ++j) {
      EXPECT_NE(atoms[i], atoms[j]) << i << " vs " << j;
    }
  }
  // Key, tag and every field take part.
  EXPECT_NE(SetItemAtom("s", "elem", Dot{2, 7}), SetItemAtom("t", "elem", Dot{2, 7}));
  EXPECT_NE(StampAtom("k", kListStampAtom, Stamp{8, 2}, 4),
            StampAtom("k", kSetStampAtom, Stamp{8, 2}, 4));
  EXPECT_NE(RegisterAtom("k", Stamp{7, 1}, 3, true, "value", 0),
            RegisterAtom("k", Stamp{7, 1}, 3, true, "value", 1));
  EXPECT_NE(CounterAtom("k", kCounterDelAtom, CounterPart{1, 5, 1, 9, Dot{2, 1}}),
            CounterAtom("k", kCounterDelAtom, CounterPart{1, 5, 1, 9, Dot{2, 2}}));
}

TEST(Digest, AtomsAreDeterministic) {
  EXPECT_EQ(ListItemAtom("l", Stamp{9, 1}, 6, "item"),
            ListItemAtom("l", Stamp{9, 1}, 6, "item"));
  const Digest a = RemovalAtom("k", kListRemovalAtom, Dot{1, 2}, Dot{3, 4});
  EXPECT_NE(a.a, a.b);  // the two halves use different seeds
}

}  // namespace
}  // namespace kv::store::internal
