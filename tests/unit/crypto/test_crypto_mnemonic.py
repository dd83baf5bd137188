"""BIP-39 mnemonics (Trezor vectors) and SLIP-0010 ed25519 derivation (official vectors)."""

from __future__ import annotations

import pytest
from mnemonic import Mnemonic

from citychain.crypto.errors import MnemonicError
from citychain.crypto.keys import PrivateKey
from citychain.crypto.mnemonic import (
    HARDENED,
    derivation_path,
    generate_mnemonic,
    mnemonic_to_seed,
    private_key_from_mnemonic,
    slip10_ed25519_child,
    slip10_ed25519_derive,
    slip10_ed25519_master,
    validate_mnemonic,
)

# trezor/python-mnemonic vectors.json, "english", passphrase "TREZOR": (entropy, words, seed).
TREZOR_VECTORS = [
    (
        "00000000000000000000000000000000",
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
        "about",
        "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
    ),
    (
        "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
        "legal winner thank year wave sausage worth useful legal winner thank yellow",
        "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
    ),
    (
        "80808080808080808080808080808080",
        "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
        "d71de856f81a8acc65e6fc851a38d4d7ec216fd0796d0a6827a3ad6ed5511a30fa280f12eb2e47ed2ac03b5c462a0358d18d69fe4f985ec81778c1b370b652a8",
    ),
    (
        "ffffffffffffffffffffffffffffffff",
        "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong",
        "ac27495480225222079d7be181583751e86f571027b0497b5b5d11218e0a8a13332572917f0f8e5a589620c6f15b11c61dee327651a14c34e18231052e48c069",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        " ".join(["abandon"] * 23 + ["art"]),
        "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8",
    ),
]

H = HARDENED
# SLIP-0010, "Test vector 1 for ed25519" and "Test vector 2 for ed25519":
# (path, chain code, private key, public key with SLIP-0010's 0x00 prefix).
SLIP10_SEED_1 = "000102030405060708090a0b0c0d0e0f"
SLIP10_VECTOR_1 = [
    (
        (),
        "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
        "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
        "00a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed",
    ),
    (
        (0 + H,),
        "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
        "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
        "008c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c",
    ),
    (
        (0 + H, 1 + H),
        "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
        "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
        "001932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187",
    ),
    (
        (0 + H, 1 + H, 2 + H),
        "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c",
        "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
        "00ae98736566d30ed0e9d2f4486a64bc95740d89c7db33f52121f8ea8f76ff0fc1",
    ),
    (
        (0 + H, 1 + H, 2 + H, 2 + H),
        "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc",
        "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
        "008abae2d66361c879b900d204ad2cc4984fa2aa344dd7ddc46007329ac76c429c",
    ),
    (
        (0 + H, 1 + H, 2 + H, 2 + H, 1000000000 + H),
        "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
        "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
        "003c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a",
    ),
]
SLIP10_SEED_2 = (
    "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a2"
    "9f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542"
)
SLIP10_VECTOR_2 = [
    (
        (),
        "ef70a74db9c3a5af931b5fe73ed8e1a53464133654fd55e7a66f8570b8e33c3b",
        "171cb88b1b3c1db25add599712e36245d75bc65a1a5c9e18d76f9f2b1eab4012",
        "008fe9693f8fa62a4305a140b9764c5ee01e455963744fe18204b4fb948249308a",
    ),
    (
        (0 + H,),
        "0b78a3226f915c082bf118f83618a618ab6dec793752624cbeb622acb562862d",
        "1559eb2bbec5790b0c65d8693e4d0875b1747f4970ae8b650486ed7470845635",
        "0086fab68dcb57aa196c77c5f264f215a112c22a912c10d123b0d03c3c28ef1037",
    ),
    (
        (0 + H, 2147483647 + H),
        "138f0b2551bcafeca6ff2aa88ba8ed0ed8de070841f0c4ef0165df8181eaad7f",
        "ea4f5bfe8694d8bb74b7b59404632fd5968b774ed545e810de9c32a4fb4192f4",
        "005ba3b9ac6e90e83effcd25ac4e58a1365a9e35a3d3ae5eb07b9e4d90bcf7506d",
    ),
    (
        (0 + H, 2147483647 + H, 1 + H),
        "73bd9fff1cfbde33a1b846c27085f711c0fe2d66fd32e139d3ebc28e5a4a6b90",
        "3757c7577170179c7868353ada796c839135b3d30554bbb74a4b1e4a5a58505c",
        "002e66aa57069c86cc18249aecf5cb5a9cebbfd6fadeab056254763874a9352b45",
    ),
    (
        (0 + H, 2147483647 + H, 1 + H, 2147483646 + H),
        "0902fe8a29f9140480a00ef244bd183e8a13288e4412d8389d140aac1794825a",
        "5837736c89570de861ebc173b1086da4f505d4adb387c6a1b1342d5e4ac9ec72",
        "00e33c0f7d81d843c572275f287498e8d408654fdf0d1e065b84e2e6f157aab09b",
    ),
    (
        (0 + H, 2147483647 + H, 1 + H, 2147483646 + H, 2 + H),
        "5d70af781f3a37b829f0d060924d5e960bdc02e85423494afc0b1a41bbe196d4",
        "551d333177df541ad876a60ea71f00447931c0a9da16f227c11ea080d7391b8d",
        "0047150c75db263559a70d5778bf36abbab30fb061ad69f69ece61a72b0cfa4fc0",
    ),
]
SLIP10_CASES = [(SLIP10_SEED_1, *case) for case in SLIP10_VECTOR_1] + [
    (SLIP10_SEED_2, *case) for case in SLIP10_VECTOR_2
]

ABANDON_ABOUT = TREZOR_VECTORS[0][1]
# citychain golden vector: m/44'/8888'/0'/0'/0' of "abandon x11 about", no passphrase.
# Changing it changes every user's address: a protocol change.
ABANDON_ABOUT_ACCOUNT_0_PUBLIC_KEY = (
    "6e2c4832dec33da729a9660062624d73513ffd7b8d3d3536d92f099a8b370319"
)


@pytest.mark.parametrize(("entropy", "words", "seed"), TREZOR_VECTORS)
def test_trezor_bip39_vectors(entropy: str, words: str, seed: str) -> None:
    assert Mnemonic("english").to_mnemonic(bytes.fromhex(entropy)) == words
    validate_mnemonic(words)
    assert mnemonic_to_seed(words, "TREZOR").hex() == seed


@pytest.mark.parametrize(("seed", "path", "chain_code", "private", "public"), SLIP10_CASES)
def test_slip10_ed25519_vectors(
    seed: str, path: tuple[int, ...], chain_code: str, private: str, public: str
) -> None:
    key, code = slip10_ed25519_derive(bytes.fromhex(seed), path)
    assert (key.hex(), code.hex()) == (private, chain_code)
    assert "00" + PrivateKey.from_seed(key).public_key.hex() == public


def test_slip10_master_and_child_steps() -> None:
    key, code = slip10_ed25519_master(bytes.fromhex(SLIP10_SEED_1))
    assert (key.hex(), code.hex()) == (SLIP10_VECTOR_1[0][2], SLIP10_VECTOR_1[0][1])
    child_key, child_code = slip10_ed25519_child(key, code, 0 + H)
    assert (child_key.hex(), child_code.hex()) == (SLIP10_VECTOR_1[1][2], SLIP10_VECTOR_1[1][1])


@pytest.mark.parametrize("index", [0, 1, H - 1, 2**32, -1])
def test_slip10_ed25519_refuses_non_hardened_indices(index: int) -> None:
    key, code = slip10_ed25519_master(bytes(16))
    with pytest.raises(ValueError, match="hardened only"):
        slip10_ed25519_child(key, code, index)


def test_derivation_path_is_bip44_with_coin_type_8888() -> None:
    assert derivation_path() == (44 + H, 8888 + H, 0 + H, 0 + H, 0 + H)
    assert derivation_path(7) == (44 + H, 8888 + H, 7 + H, 0 + H, 0 + H)


@pytest.mark.parametrize("account", [-1, H, True, 1.0])
def test_derivation_path_rejects_bad_accounts(account: object) -> None:
    with pytest.raises(ValueError, match="account"):
        derivation_path(account)  # type: ignore[arg-type]


def test_private_key_from_mnemonic_follows_the_path() -> None:
    expected_seed, _ = slip10_ed25519_derive(mnemonic_to_seed(ABANDON_ABOUT), derivation_path(0))
    key = private_key_from_mnemonic(ABANDON_ABOUT)
    assert key.seed == expected_seed
    assert key.public_key.hex() == ABANDON_ABOUT_ACCOUNT_0_PUBLIC_KEY


def test_passphrase_and_account_give_different_keys() -> None:
    keys = {
        private_key_from_mnemonic(ABANDON_ABOUT).public_key,
        private_key_from_mnemonic(ABANDON_ABOUT, passphrase="TREZOR").public_key,
        private_key_from_mnemonic(ABANDON_ABOUT, account=1).public_key,
    }
    assert len(keys) == 3


def test_words_are_normalised_before_use() -> None:
    messy = "  " + ABANDON_ABOUT.upper().replace(" ", " \n\t ") + "\n"
    validate_mnemonic(messy)
    assert private_key_from_mnemonic(messy) == private_key_from_mnemonic(ABANDON_ABOUT)


@pytest.mark.parametrize("strength", [128, 160, 192, 224, 256])
def test_generate_mnemonic_sizes(strength: int) -> None:
    words = generate_mnemonic(strength)
    assert len(words.split()) == strength // 32 * 3
    validate_mnemonic(words)


def test_generate_mnemonic_defaults_to_24_words_and_is_random() -> None:
    first, second = generate_mnemonic(), generate_mnemonic()
    assert len(first.split()) == 24 and first != second


@pytest.mark.parametrize("strength", [0, 127, 129, 512])
def test_generate_mnemonic_rejects_bad_strength(strength: int) -> None:
    with pytest.raises(MnemonicError, match="128, 160, 192, 224, 256"):
        generate_mnemonic(strength)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("abandon " * 11, "has 11 words"),
        ("abandon " * 13, "has 13 words"),
        ("abandon " * 11 + "abut", "word 12 not in the BIP-39 English wordlist"),
        ("abandonn " + "abandon " * 10 + "xyzzy", "words 1, 12 not in the BIP-39"),
        ("abandon " * 12, "checksum does not match"),
        ("about " + "abandon " * 11, "checksum does not match"),
    ],
)
def test_validate_mnemonic_errors(words: str, message: str) -> None:
    with pytest.raises(MnemonicError, match=message):
        validate_mnemonic(words)
    with pytest.raises(MnemonicError):
        private_key_from_mnemonic(words)


def test_validate_mnemonic_does_not_echo_words() -> None:
    with pytest.raises(MnemonicError) as raised:
        validate_mnemonic("secretword " + "abandon " * 11)
    assert "secretword" not in str(raised.value)


def test_mnemonic_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_mnemonic("nope")
