#include "http/http_message.h"

#include <gtest/gtest.h>

namespace topup::http {
namespace {

TEST(ParseTargetTest, PathWithoutQuery) {
  std::string path;
  std::map<std::string, std::string> query{{"stale", "value"}};
  ParseTarget("/v1/orders/abc", &path, &query);
  EXPECT_EQ(path, "/v1/orders/abc");
  EXPECT_TRUE(query.empty());
}

TEST(ParseTargetTest, DecodesPercentAndPlusInQuery) {
  std::string path;
  std::map<std::string, std::string> query;
  ParseTarget("/query?supplier_order_id=a%2Fb-1&note=hello+world%21&empty=&flag", &path, &query);
  EXPECT_EQ(path, "/query");
  ASSERT_EQ(query.size(), 4u);
  EXPECT_EQ(query["supplier_order_id"], "a/b-1");
  EXPECT_EQ(query["note"], "hello world!");
  EXPECT_EQ(query["empty"], "");
  EXPECT_EQ(query["flag"], "");
}

TEST(ParseTargetTest, PathIsNotDecoded) {
  std::string path;
  std::map<std::string, std::string> query;
  ParseTarget("/a%20b+c?x=1", &path, &query);
  EXPECT_EQ(path, "/a%20b+c");
  EXPECT_EQ(query["x"], "1");
}

TEST(ParseTargetTest, KeysAreDecodedAndFirstOccurrenceWins) {
  std::string path;
  std::map<std::string, std::string> query;
  ParseTarget("/p?a%5Fb=1&a_b=2&&c=3", &path, &query);
  ASSERT_EQ(query.size(), 2u);
  EXPECT_EQ(query["a_b"], "1");
  EXPECT_EQ(query["c"], "3");
}

TEST(ParseTargetTest, MalformedPercentIsKept) {
  std::string path;
  std::map<std::string, std::string> query;
  ParseTarget("/p?a=100%&b=%zz&c=%4", &path, &query);
  EXPECT_EQ(query["a"], "100%");
  EXPECT_EQ(query["b"], "%zz");
  EXPECT_EQ(query["c"], "%4");
}

TEST(ParseTargetTest, DecodesBytesAndDropsFragment) {
  std::string path;
  std::map<std::string, std::string> query;
  ParseTarget("/p?name=%E4%B8%AD&x=%3d#frag", &path, &query);
  EXPECT_EQ(query["name"], "\xE4\xB8\xAD");
  EXPECT_EQ(query["x"], "=");
}

TEST(HttpRequestTest, HeaderByLowerCaseName) {
  HttpRequest request;
  request.headers["content-type"] = "application/json";
  EXPECT_EQ(request.Header("content-type"), "application/json");
  EXPECT_EQ(request.Header("authorization"), "");
}

}  // namespace
}  // namespace topup::http
