// SHA-256 against the FIPS 180-4 example vectors (NIST CSRC "SHA256.pdf", "SHA256ShortMsg")
// and against Debian's coreutils sha256sum on a file, including streaming in uneven pieces.
#include "mixq/core/sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

namespace mixq {
namespace {

std::string digest(std::string_view s, Sha256::Impl impl = Sha256::Impl::kAuto) {
  Sha256 h(impl);
  h.update(s);
  return h.hex_digest();
}

TEST(Sha256, PortableFipsVectors) {
  // The portable compression, also where kAuto picks the SHA extensions.
  const auto p = Sha256::Impl::kPortable;
  EXPECT_EQ(digest("", p), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest("abc", p), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", p),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, HardwarePathAgreesWithPortableOnEveryLength) {
  if (!Sha256::hardware_available()) {
    GTEST_SKIP() << "this CPU has no SHA extensions: kAuto is the portable code (tested above)";
  }
  std::mt19937 rng(7);
  std::string data(5000, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  for (size_t n = 0; n <= data.size(); n += n < 300 ? 1 : 97) {
    const std::string_view s(data.data(), n);
    ASSERT_EQ(digest(s), digest(s, Sha256::Impl::kPortable)) << n << " bytes";
  }
}

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a's, fed in pieces of varying size.
  Sha256 h;
  const std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(a.data(), a.size());
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingInAnyPiecesEqualsOneUpdateAndSha256sum) {
  std::mt19937 rng(1);
  std::string data(300000, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  Sha256 pieces;
  for (size_t i = 0; i < data.size();) {
    const size_t n = std::min<size_t>(data.size() - i, rng() % 200);
    pieces.update(data.data() + i, n);
    i += n;
  }
  const std::string want = digest(data);
  EXPECT_EQ(pieces.hex_digest(), want);

  const auto path = std::filesystem::temp_directory_path() / "mixq_sha256_test.bin";
  std::ofstream(path, std::ios::binary)
      .write(data.data(), static_cast<std::streamsize>(data.size()));
  auto file = sha256_file(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ(*file, want);
  // An independent implementation: coreutils.
  const std::string cmd = "sha256sum '" + path.string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char out[65] = {};
  ASSERT_EQ(fread(out, 1, 64, p), 64u);
  pclose(p);
  EXPECT_EQ(std::string(out), want);
  std::filesystem::remove(path);
}

TEST(Sha256, rejects_missing_file_naming_it) {
  auto r = sha256_file("/nonexistent/model.onnx");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kBadInput);
  EXPECT_NE(r.status().message().find("/nonexistent/model.onnx"), std::string::npos);
}

}  // namespace
}  // namespace mixq
