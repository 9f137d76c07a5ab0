#include "core/url.h"

#include <gtest/gtest.h>

#include <vector>

namespace topup {
namespace {

TEST(UrlTest, ParsesSchemeHostPortAndTarget) {
  Result<Url> url = ParseUrl("https://Shop.example:8443/cb/x?order=1&y=%2F#frag");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->host, "Shop.example");
  EXPECT_EQ(url->port, 8443);
  EXPECT_EQ(url->target, "/cb/x?order=1&y=%2F");
  Result<Url> bare = ParseUrl("HTTP://127.0.0.1");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->scheme, "http");
  EXPECT_EQ(bare->port, 80);
  EXPECT_EQ(bare->target, "/");
  Result<Url> v6 = ParseUrl("http://[::1]:9000?q");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->target, "/?q");
}

TEST(UrlTest, RefusesWhatIsNotPlainlyAUrl) {
  for (const std::string& text : std::vector<std::string>{"",
                                                          "http://",
                                                          "https://",
                                                          "http:///x",
                                                          "http://:80/",
                                                          "shop.example/x",
                                                          "ftp://a/b",
                                                          "javascript:alert(1)",
                                                          "http://a b/",
                                                          "http://a/b c",
                                                          "http://a/\r\nX: y",
                                                          std::string("http://a/\0b", 11),
                                                          "http://a/\x7f",
                                                          "http://a/\xc3\xa9",
                                                          "http://u@a/",
                                                          "http://u:p@a/",
                                                          "http://a:0/",
                                                          "http://a:65536/",
                                                          "http://a:x/",
                                                          "http://a:/",
                                                          "http://[::1/",
                                                          "http://[zz]/",
                                                          "http://a/%zz",
                                                          "http://a/%4",
                                                          "http://a/<x>",
                                                          "http://a\"/",
                                                          "http://a_b/",
                                                          std::string(3000, 'a')}) {
    Result<Url> url = ParseUrl(text);
    EXPECT_FALSE(url.ok()) << text;
    if (!url.ok()) {
      EXPECT_EQ(url.status().reason(), "invalid_url");
      EXPECT_EQ(url.status().message().find(text.empty() ? "\x01" : text), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace topup
