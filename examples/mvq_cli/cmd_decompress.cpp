// `mvq decompress`: a `.mvq.safetensors` file back to a dense safetensors file (docs/format.md, "mvq decompress").
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "command.hpp"
#include "mvq/io/mvq_format.hpp"
#include "mvq/io/safetensors.hpp"

namespace {

struct decompress_args {
  std::string in, out;
};

int run(decompress_args const& a) {
  namespace io = mvq::io;
  auto f = io::mvq_file::open(a.in);
  if (!f) return mvq_cli::report(f.error());
  io::safetensors_writer w;
  // The format's own keys are dropped: the output holds dense weights and is a plain safetensors file.
  for (auto const& [k, v] : f->user_metadata()) w.set_metadata(k, v);

  // Emit tensors in the input's data order; a layer (VQ or scalar) takes the place of its first stored tensor.
  std::map<std::string, const io::mvq_layer_info*> part_of;
  for (auto const& l : f->layers())
    for (const char* p : {".codebook", ".codebook_scale", ".indices", ".mask"}) part_of[l.info.name + p] = &l.info;
  for (auto const& l : f->scalar_layers())
    for (const char* p : {".codes", ".scales", ".zeros"}) part_of[l.info.name + p] = &l.info;
  std::set<const io::mvq_layer_info*> done;
  std::size_t copied = 0;
  for (auto const& t : f->file().tensors()) {
    auto it = part_of.find(t.name);
    if (it == part_of.end()) {
      if (auto r = w.add(t.name, t.type, t.shape, f->file().data(t)); !r) return mvq_cli::report(r.error());
      ++copied;
      continue;
    }
    if (!done.insert(it->second).second) continue;
    auto const& info = *it->second;
    auto dense = f->decompress_dense(info.name);  // in the tensor's own shape and element order
    if (!dense) return mvq_cli::report(dense.error());
    if (auto r = w.add_f32(info.name, info.shape, *dense); !r) return mvq_cli::report(r.error());
  }
  if (auto r = w.write(a.out); !r) return mvq_cli::report(r.error());
  std::printf("wrote %s: %zu layers decompressed to F32, %zu tensors copied\n", a.out.c_str(), done.size(), copied);
  return mvq_cli::exit_ok;
}

const mvq_cli::registrar reg([](CLI::App& app, int& exit_code) {
  auto a = std::make_shared<decompress_args>();
  auto* cmd = app.add_subcommand("decompress",
                                 "Decompress a .mvq.safetensors file: compressed layers become dense F32 under their "
                                 "original names and shapes; every other tensor and the metadata (without the "
                                 "mvq_format and mvq:* keys) are copied unchanged.");
  cmd->add_option("input", a->in, "input .mvq.safetensors")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", a->out, "output .safetensors")->required();
  cmd->callback([a, &exit_code] { exit_code = run(*a); });
});

}  // namespace
