// api/openapi.json against the code: every route the server serves is in it and nothing else
// is served, and its list of error codes is exactly what the code can answer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "api_under_test.h"
#include "auth/merchant_keys.h"
#include "auth/request_signature.h"
#include "http/http_client.h"
#include "queue/embedded/embedded_queue.h"
#include "store/sqlite/sqlite_store.h"

namespace topup::api {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string ReadText(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

json::object OpenApi() {
  boost::system::error_code error;
  json::value doc =
      json::parse(ReadText(fs::path(TOPUP_SOURCE_DIR) / "api" / "openapi.json"), error);
  EXPECT_FALSE(error) << error.message();
  return doc.is_object() ? doc.as_object() : json::object{};
}

// The error codes the code can answer with: the reasons given to the Status builders (and to
// the HTTP server's own error answers) in the files that handle requests.
std::set<std::string> CodesInSources() {
  const fs::path src = fs::path(TOPUP_SOURCE_DIR) / "src";
  std::vector<fs::path> files;
  for (const char* dir : {"api", "auth", "core", "store"}) {
    for (const auto& entry : fs::recursive_directory_iterator(src / dir)) {
      if (entry.path().extension() == ".cc") files.push_back(entry.path());
    }
  }
  files.push_back(src / "http" / "http_server.cc");
  files.push_back(src / "http" / "json_answer.cc");
  files.push_back(src / "observe" / "log_setup.cc");  // PUT /v1/admin/log-level
  files.push_back(src / "engine" / "supplier_callback_route.cc");
  files.push_back(src / "engine" / "supplier_callbacks.cc");
  files.push_back(src / "engine" / "callback_body.cc");
  const std::regex reason(
      R"re((?:InvalidArgument|NotFound|AlreadyExists|FailedPrecondition|Unavailable|)re"
      R"re(DeadlineExceeded|PermissionDenied|Unauthenticated|FieldError|Status)\(\s*)re"
      R"re((?:StatusCode::k\w+,\s*)?"([a-z_]+)")re"
      R"re(|SendError\([^,]+,\s*"([a-z_]+)")re");
  std::set<std::string> codes = {"internal"};  // Internal() and a Status without a reason
  for (const fs::path& file : files) {
    const std::string text = ReadText(file);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), reason);
         it != std::sregex_iterator(); ++it) {
      codes.insert((*it)[1].matched ? (*it)[1].str() : (*it)[2].str());
    }
  }
  return codes;
}

// Reasons that never reach an HTTP answer: refused at start-up, or only ever returned to the
// engine's own store calls, or mapped to another code before answering.
const std::set<std::string> kNeverAnswered = {
    "bad_address",
    "bad_server_options",
    "bind_failed",         // HttpServer::Listen
    "bad_tls_files",       // HttpServer::Listen
    "invalid_master_key",  // the master key, at start-up
    "invalid_log_format",  // --log-format, at start-up
    "invalid_store_options",
    "schema_too_new",  // opening the store
    "invalid_url",     // answered invalid_notify_url
    "invalid_lease",
    "invalid_redelivery",
    "invalid_transition",       // engine-only calls
    "invalid_outcome",          // the notifier's own calls
    "invalid_archive_request",  // topup archive and serve's schedule
    "invalid_duration",         // durations of the archive command and serve flags
};

TEST(OpenApiTest, ErrorCodesAreExactlyThoseTheCodeAnswers) {
  json::object doc = OpenApi();
  std::set<std::string> documented;
  for (const json::value& code : doc["components"]
                                     .at("schemas")
                                     .at("Error")
                                     .at("properties")
                                     .at("code")
                                     .at("enum")
                                     .as_array()) {
    documented.insert(json::value_to<std::string>(code));
  }
  const std::set<std::string> produced = CodesInSources();
  for (const std::string& code : produced) {
    if (kNeverAnswered.contains(code)) continue;
    EXPECT_TRUE(documented.contains(code)) << code << " can be answered but is not documented";
  }
  for (const std::string& code : documented) {
    EXPECT_TRUE(produced.contains(code)) << code << " is documented but nothing answers it";
    EXPECT_FALSE(kNeverAnswered.contains(code)) << code;
  }
}

class OpenApiRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("topup-openapi-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto store = OpenSqliteStore(SqliteStoreOptions{.path = (dir_ / "t.db").string()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreateMerchant("m1", "Shop", clock_.NowMs()).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 100'000, "", clock_.NowMs()).ok());
    key_ = *auth::CreateMerchantKey(*store_, box_, "m1", clock_.NowMs());
    MerchantApiOptions options;
    api_ = std::make_unique<ApiUnderTest>(store_.get(), &queue_, &clock_, &random_, &box_, options,
                                          "t");
    auto server = http::HttpServer::Listen(
        http::HttpServerOptions{}, [this](http::HttpRequest request, http::Responder respond) {
          api_->Handle(std::move(request), std::move(respond));
        });
    ASSERT_TRUE(server.ok());
    server_ = std::move(*server);
    server_->Start();
    client_ = std::make_unique<http::HttpClient>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
    api_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  // Sends `method target` signed as m1 (merchant routes) or with the admin token.
  http::HttpResponse Send(const std::string& method, const std::string& target,
                          const std::string& body) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (target.starts_with("/v1/admin")) {
      headers.emplace_back("Authorization", "Bearer t");
    } else {
      headers = auth::SignatureHeaders(key_.key_id, key_.secret, method, target, body,
                                       clock_.NowMs() / 1000, auth::NewNonce());
    }
    Result<http::HttpResponse> response =
        client_->Send(method, target, body, std::chrono::milliseconds(10'000), headers);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    return response.ok() ? *response : http::HttpResponse{};
  }

  static std::string CodeOf(const http::HttpResponse& response) {
    boost::system::error_code error;
    json::value body = json::parse(response.body, error);
    if (error || !body.is_object() || !body.as_object().contains("code")) return "";
    return json::value_to<std::string>(body.at("code"));
  }

  fs::path dir_;
  FakeClock clock_;
  SeededRandom random_{7};
  EmbeddedQueue queue_;
  auth::SecretBox box_ = auth::SecretBox::Ephemeral();
  auth::NewMerchantKey key_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ApiUnderTest> api_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<http::HttpClient> client_;
};

TEST_F(OpenApiRoutesTest, EveryDocumentedRouteIsServedAndNothingElse) {
  http::HttpResponse order = Send(
      "POST", "/v1/orders",
      R"({"merchant_id":"m1","merchant_order_id":"a1","phone":"13800138000","face_value":10})");
  ASSERT_EQ(order.status, 201) << order.body;
  boost::system::error_code error;
  const std::string order_id =
      json::value_to<std::string>(json::parse(order.body, error).at("order_id"));
  const std::string spare_key = auth::CreateMerchantKey(*store_, box_, "m1", 0)->key_id;
  auto instantiate = [&](std::string path) {
    for (auto [name, value] :
         std::vector<std::pair<std::string, std::string>>{{"{order_id}", order_id},
                                                          {"{merchant_id}", "m1"},
                                                          {"{key_id}", spare_key},
                                                          {"{channel}", "sim"},
                                                          {"{notification_id}", "1"}}) {
      if (size_t at = path.find(name); at != std::string::npos)
        path.replace(at, name.size(), value);
    }
    return path == "/v1/orders" ? path + "?merchant_order_id=a1" : path;
  };
  json::object doc = OpenApi();
  const std::set<std::string> kMethods = {"get", "post", "put", "delete", "patch"};
  for (const auto& [path_template, operations] : doc["paths"].as_object()) {
    const std::string path = instantiate(std::string(path_template));
    for (const std::string& method : kMethods) {
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::string body;
      if (method == "post" || method == "put" || method == "patch") {
        body = path.ends_with("/fund")         ? R"({"amount_fen":1})"
               : path == "/v1/admin/merchants" ? R"({"merchant_id":"m9"})"
               : path == "/v1/orders"
                   ? R"({"merchant_id":"m1","merchant_order_id":"a2","phone":"13800138000",)"
                     R"("face_value":10})"
                   : "{}";
      }
      const std::string target =
          method == "post" && path.starts_with("/v1/orders?") ? std::string("/v1/orders") : path;
      http::HttpResponse response = Send(upper, target, body);
      const std::string code = CodeOf(response);
      if (operations.as_object().contains(method)) {
        // The callback route answers only when the server runs an engine (topup serve).
        if (path_template == "/v1/supplier-callbacks/{channel}") continue;
        EXPECT_NE(code, "no_such_route") << upper << " " << target;
        EXPECT_NE(response.status, 405) << upper << " " << target;
        EXPECT_LT(response.status, 500) << upper << " " << target << " " << response.body;
      } else {
        EXPECT_TRUE(response.status == 405 || code == "no_such_route")
            << upper << " " << target << " is served but not documented: " << response.status;
      }
    }
  }
  for (const std::string& target : {"/v1/orders/" + order_id + "/other", std::string("/v2/orders"),
                                    std::string("/v1/admin/merchants/m1/other/x"),
                                    std::string("/v1/admin/other"), std::string("/")}) {
    EXPECT_EQ(CodeOf(Send("GET", target, "")), "no_such_route") << target;
  }
}

}  // namespace
}  // namespace topup::api
