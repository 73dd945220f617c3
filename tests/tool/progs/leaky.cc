// leaky.cc — a small C++ program for the tool tests: names must come out demangled and the
// frame above operator new must be the `new` call site. Call sites carry SITE: comments.
#include <string>
#include <vector>

namespace zoo {
struct Animal {
    std::string name;
    int legs;
    explicit Animal(const char *n) : name(n), legs(4) {}
};

class Keeper {
  public:
    __attribute__((noinline)) Animal *adopt(const char *n)
    {
        return new Animal(n); // SITE: Keeper::adopt
    }
    template <typename T> __attribute__((noinline)) T *make_many(int count)
    {
        return new T[count]; // SITE: Keeper::make_many
    }
};
} // namespace zoo

int main()
{
    zoo::Keeper k;
    zoo::Animal *volatile a = k.adopt("tiger"); // SITE: main->adopt
    int *volatile many = k.make_many<int>(16);  // SITE: main->make_many
    a = nullptr;
    many = nullptr;
    return 0;
}
